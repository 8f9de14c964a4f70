//go:build unix

package rehearse

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/pgrunbook/pgrunbook/internal/sandbox"
)

// KeptFile is the file a kept sandbox's directory holds: the libpq
// variables that reach it, as shell exports (`. DIR/rehearsal.env`). Its
// presence is also what StopKept checks before removing a directory.
const KeptFile = "rehearsal.env"

const (
	// stopWait bounds the wait for a postmaster to shut down.
	stopWait = 30 * time.Second
	// socketDirComment prefixes the line of KeptFile naming the socket
	// directory.
	socketDirComment = "# socket directory: "
)

// Kept describes a sandbox left running by Options.Keep.
type Kept struct {
	// Dir is the cluster's directory, for `pgrunbook rehearse --stop`.
	Dir string
	// PID is the postmaster's process id.
	PID int
	// Env holds the libpq variables that reach the rehearsal database.
	Env []string
}

// keep hands the cluster over to a postmaster that outlives this
// process. A sandbox's server stops when the process that started it
// ends, so the server is shut down (which also ends every staged session)
// and started again with pg_ctl from the same data directory, on the same
// port and socket directory. On error the cluster is left for the
// caller's teardown.
func keep(ctx context.Context, c *sandbox.Cluster) (*Kept, error) {
	if err := stopPostmaster(c.PID(), c.DataDir); err != nil {
		return nil, err
	}
	postgresOpts := fmt.Sprintf("-p %d -k %s -c listen_addresses=%s", c.Port, shellQuote(c.SocketDir), c.Host)
	cmd := c.Command(ctx, "pg_ctl", "start", "-D", c.DataDir, "-l", c.LogFile, "-w", "-t", "60", "-o", postgresOpts)
	if out, err := cmd.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("restart the sandbox with pg_ctl so that it outlives this process: %w\n%s", err, strings.TrimSpace(string(out)))
	}
	pid, _, err := readPostmasterPID(c.DataDir)
	if err != nil {
		// pg_ctl said it started; make sure nothing outlives the
		// teardown that follows.
		_ = c.Command(context.WithoutCancel(ctx), "pg_ctl", "stop", "-D", c.DataDir, "-m", "immediate").Run()
		return nil, err
	}
	k := &Kept{Dir: c.Dir, PID: pid, Env: []string{
		"PGHOST=" + c.Host,
		"PGPORT=" + strconv.Itoa(c.Port),
		"PGUSER=" + c.User,
		"PGDATABASE=" + Database,
		"PGSSLMODE=disable",
	}}
	var b bytes.Buffer
	fmt.Fprintln(&b, "# A sandbox PostgreSQL left running by pgrunbook rehearse --keep.")
	fmt.Fprintf(&b, "# Use it:    . %s\n", shellQuote(filepath.Join(c.Dir, KeptFile)))
	fmt.Fprintf(&b, "# Remove it: pgrunbook rehearse --stop %s\n", shellQuote(c.Dir))
	fmt.Fprintf(&b, "%s%s\n", socketDirComment, c.SocketDir)
	for _, kv := range k.Env {
		fmt.Fprintf(&b, "export %s\n", kv)
	}
	if err := os.WriteFile(filepath.Join(c.Dir, KeptFile), b.Bytes(), 0o600); err != nil {
		_ = stopPostmaster(pid, c.DataDir)
		return nil, fmt.Errorf("write %s: %w", KeptFile, err)
	}
	return k, nil
}

// StopKept stops a sandbox left running by Options.Keep and removes its
// directory (and its socket directory, when that lives elsewhere). It
// refuses a directory without KeptFile, so that it never removes a
// directory it did not make.
func StopKept(dir string, out io.Writer) error {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return err
	}
	env, err := os.ReadFile(filepath.Join(abs, KeptFile))
	if err != nil {
		return fmt.Errorf("%s is not a sandbox left by pgrunbook rehearse --keep (%w)", dir, err)
	}
	dataDir := filepath.Join(abs, "data")
	pid, pidDataDir, err := readPostmasterPID(dataDir)
	switch {
	case errors.Is(err, os.ErrNotExist):
		fmt.Fprintf(out, "PostgreSQL was not running in %s\n", abs)
	case err != nil:
		return err
	case pidDataDir != dataDir:
		return fmt.Errorf("%s/postmaster.pid names data directory %s, not this one: not stopping pid %d", dataDir, pidDataDir, pid)
	default:
		if err := stopPostmaster(pid, dataDir); err != nil {
			return err
		}
		fmt.Fprintf(out, "PostgreSQL stopped (postmaster pid %d)\n", pid)
	}
	if err := os.RemoveAll(abs); err != nil {
		return fmt.Errorf("remove %s: %w", abs, err)
	}
	fmt.Fprintf(out, "%s removed\n", abs)
	sc := bufio.NewScanner(bytes.NewReader(env))
	for sc.Scan() {
		sock, ok := strings.CutPrefix(sc.Text(), socketDirComment)
		if ok && sock != "" && !strings.HasPrefix(sock, abs+string(filepath.Separator)) &&
			strings.HasPrefix(filepath.Base(sock), "pgrunbook-sock-") {
			if err := os.RemoveAll(sock); err != nil {
				return fmt.Errorf("remove %s: %w", sock, err)
			}
			fmt.Fprintf(out, "%s removed\n", sock)
		}
	}
	return nil
}

// readPostmasterPID reads the postmaster's pid and data directory from
// dataDir/postmaster.pid.
func readPostmasterPID(dataDir string) (int, string, error) {
	b, err := os.ReadFile(filepath.Join(dataDir, "postmaster.pid"))
	if err != nil {
		return 0, "", err
	}
	lines := strings.Split(string(b), "\n")
	if len(lines) < 2 {
		return 0, "", fmt.Errorf("%s/postmaster.pid is incomplete", dataDir)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(lines[0]))
	if err != nil || pid <= 0 {
		return 0, "", fmt.Errorf("%s/postmaster.pid: bad pid %q", dataDir, lines[0])
	}
	return pid, strings.TrimSpace(lines[1]), nil
}

// stopPostmaster asks the postmaster pid of dataDir for a fast shutdown
// and waits for it to exit; after stopWait it kills its process group.
func stopPostmaster(pid int, dataDir string) error {
	if !isPostmasterOf(pid, dataDir) {
		return nil
	}
	if err := syscall.Kill(pid, syscall.SIGINT); err != nil {
		if errors.Is(err, syscall.ESRCH) {
			return nil
		}
		return fmt.Errorf("stop PostgreSQL (pid %d): %w", pid, err)
	}
	if waitGone(pid, stopWait) {
		return nil
	}
	_ = syscall.Kill(-pid, syscall.SIGKILL)
	_ = syscall.Kill(pid, syscall.SIGKILL)
	if waitGone(pid, stopWait) {
		return nil
	}
	return fmt.Errorf("PostgreSQL (pid %d) did not exit", pid)
}

// waitGone polls until process pid no longer exists, for at most d.
func waitGone(pid int, d time.Duration) bool {
	deadline := time.Now().Add(d)
	for {
		if err := syscall.Kill(pid, 0); errors.Is(err, syscall.ESRCH) {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// isPostmasterOf reports whether process pid exists and, where /proc
// shows command lines, runs with dataDir: a pid read from a stale
// postmaster.pid may belong to another process by now.
func isPostmasterOf(pid int, dataDir string) bool {
	if err := syscall.Kill(pid, 0); errors.Is(err, syscall.ESRCH) {
		return false
	}
	cmdline, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	if err != nil {
		return !dirExists("/proc/self")
	}
	return bytes.Contains(cmdline, []byte(dataDir))
}

func dirExists(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && fi.IsDir()
}

// shellQuote quotes s for a POSIX shell (pg_ctl passes -o through one).
func shellQuote(s string) string {
	if s != "" && !strings.ContainsAny(s, " \t\n'\"\\$`;&|<>()*?[]#~!{}") {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
