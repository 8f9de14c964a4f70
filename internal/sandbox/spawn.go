package sandbox

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"time"
)

// runAs identifies the unprivileged OS user child processes switch to when
// the current process is root.
type runAs struct {
	uid, gid uint32
	home     string
}

// server is one postmaster process.
type server struct {
	cmd     *exec.Cmd
	exited  chan struct{} // closed after cmd.Wait returned
	waitErr error         // valid once exited is closed
}

// pickPort returns a TCP port that was free on 127.0.0.1 a moment ago.
// It is a variable so tests can simulate a port race.
var pickPort = func() (int, error) {
	l, err := net.Listen("tcp", net.JoinHostPort(Host, "0"))
	if err != nil {
		return 0, err
	}
	port := l.Addr().(*net.TCPAddr).Port
	if err := l.Close(); err != nil {
		return 0, err
	}
	return port, nil
}

func serverUser() (*runAs, error) {
	if os.Geteuid() != 0 {
		return nil, nil
	}
	u, err := user.Lookup(OSUser)
	if err != nil {
		return nil, fmt.Errorf("sandbox: running as root, but PostgreSQL refuses to run as root and the %q OS user cannot be used to run it instead: %w", OSUser, err)
	}
	uid, err := strconv.ParseUint(u.Uid, 10, 32)
	if err != nil {
		return nil, fmt.Errorf("sandbox: uid of OS user %q: %w", OSUser, err)
	}
	gid, err := strconv.ParseUint(u.Gid, 10, 32)
	if err != nil {
		return nil, fmt.Errorf("sandbox: gid of OS user %q: %w", OSUser, err)
	}
	return &runAs{uid: uint32(uid), gid: uint32(gid), home: u.HomeDir}, nil
}

// tempBase picks the directory to create the cluster directory in. When the
// server runs as another user, that user must be able to reach it, so an
// unreachable TMPDIR falls back to /tmp.
func tempBase(as *runAs) (string, error) {
	candidates := []string{os.TempDir()}
	if as == nil {
		return candidates[0], nil
	}
	candidates = append(candidates, "/tmp", "/var/tmp")
	for _, base := range candidates {
		if traversable(filepath.Join(base, "x"), as.uid, as.gid) {
			return base, nil
		}
	}
	return "", fmt.Errorf("sandbox: none of %s is reachable by the %q OS user; set TMPDIR to a directory it can search", strings.Join(candidates, ", "), OSUser)
}

// chown hands path to the server's OS user when running as root.
func (c *Cluster) chown(path string) error {
	if c.runAs == nil {
		return nil
	}
	if err := os.Chown(path, int(c.runAs.uid), int(c.runAs.gid)); err != nil {
		return fmt.Errorf("sandbox: chown %s to %s: %w", path, OSUser, err)
	}
	return nil
}

// makeSocketDir creates the directory for the server's Unix-domain socket,
// inside Dir unless that path would be too long for a socket address.
func (c *Cluster) makeSocketDir() error {
	c.SocketDir = filepath.Join(c.Dir, socketDirName)
	if len(c.SocketDir) <= maxSocketDirLen {
		if err := os.Mkdir(c.SocketDir, 0o700); err != nil {
			return fmt.Errorf("sandbox: create socket directory: %w", err)
		}
	} else {
		d, err := os.MkdirTemp("/tmp", "pgrunbook-sock-")
		if err != nil {
			return fmt.Errorf("sandbox: create socket directory: %w", err)
		}
		c.SocketDir, c.separateSocket = d, true
	}
	return c.chown(c.SocketDir)
}

// childEnv is the environment for initdb, postgres and client programs: the
// current environment without libpq/PostgreSQL variables (PGDATA, PGPORT,
// PGPASSWORD, ... would change what the children do) and, when switching
// users, with HOME pointing at that user's home directory.
func (c *Cluster) childEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if strings.HasPrefix(kv, "PG") {
			continue
		}
		if c.runAs != nil && strings.HasPrefix(kv, "HOME=") {
			continue
		}
		env = append(env, kv)
	}
	if c.runAs != nil && c.runAs.home != "" {
		env = append(env, "HOME="+c.runAs.home)
	}
	return env
}

// initdb creates the data directory.
func (c *Cluster) initdb(ctx context.Context) error {
	cmd := exec.CommandContext(ctx, filepath.Join(c.BinDir, "initdb"),
		"-D", c.DataDir,
		"-U", SuperUser,
		"--auth=trust",
		"-E", "UTF8",
		// A fixed locale keeps initdb independent of the caller's LANG
		// and keeps server messages in English.
		"--locale=C",
		"--no-sync",
		// No --no-instructions (PostgreSQL 14+): the output is only
		// shown when initdb fails, and 13 must work too.
	)
	cmd.Dir = c.Dir
	cmd.Env = c.childEnv()
	cmd.SysProcAttr = newClientProcAttr(c.runAs)
	out, err := cmd.CombinedOutput()
	if err != nil {
		if ctxErr := ctx.Err(); ctxErr != nil {
			err = ctxErr
		}
		return fmt.Errorf("sandbox: initdb failed: %w\n%s", err, indent(string(out)))
	}
	return nil
}

// startupError reports a server that did not become ready.
type startupError struct {
	msg       string
	logTail   string
	addrInUse bool
}

func (e *startupError) Error() string {
	if e.logTail == "" {
		return "sandbox: " + e.msg
	}
	return "sandbox: " + e.msg + "; server log:\n" + indent(e.logTail)
}

// launch starts the postmaster on port and waits until it accepts
// connections.
func (c *Cluster) launch(ctx context.Context, port int, settings map[string]string, logw io.Writer) error {
	logStart, _ := c.logFile.Seek(0, io.SeekEnd)

	args := []string{"-D", c.DataDir, "-p", strconv.Itoa(port), "-k", c.SocketDir}
	names := make([]string, 0, len(settings))
	for k := range settings {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		args = append(args, "-c", k+"="+settings[k])
	}
	cmd := exec.Command(filepath.Join(c.BinDir, "postgres"), args...)
	cmd.Dir = c.Dir
	cmd.Env = c.childEnv()
	cmd.Stdout = logw
	cmd.Stderr = logw
	cmd.SysProcAttr = newServerProcAttr(c.runAs)

	srv, err := startServerProcess(cmd)
	if err != nil {
		return fmt.Errorf("sandbox: start postgres: %w", err)
	}
	c.srv = srv
	c.Port = port

	if err := c.waitReady(ctx, srv); err != nil {
		se := &startupError{msg: err.Error()}
		select {
		case <-srv.exited:
		default:
			// Still running but not ready in time: do not leave it behind.
			_ = srv.shutdown()
		}
		tail := readFrom(c.LogFile, logStart)
		se.logTail = lastLines(tail, 30)
		se.addrInUse = strings.Contains(tail, "Address already in use")
		return se
	}
	return nil
}

// startServerProcess starts cmd from a goroutine locked to its OS thread
// and reaps it from that same goroutine. The thread stays alive for the
// lifetime of the child, which keeps the parent-death signal (Linux
// Pdeathsig is tied to the creating thread) from firing early.
func startServerProcess(cmd *exec.Cmd) (*server, error) {
	srv := &server{cmd: cmd, exited: make(chan struct{})}
	started := make(chan error, 1)
	go func() {
		// Never unlocked: when this goroutine returns, the runtime
		// retires the thread, which is harmless because the child has
		// been reaped by then.
		runtime.LockOSThread()
		if err := cmd.Start(); err != nil {
			started <- err
			return
		}
		started <- nil
		srv.waitErr = cmd.Wait()
		close(srv.exited)
	}()
	if err := <-started; err != nil {
		return nil, err
	}
	return srv, nil
}

// waitReady polls postmaster.pid until its status line says "ready".
func (c *Cluster) waitReady(ctx context.Context, srv *server) error {
	deadline := time.Now().Add(readyCap)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	timer := time.NewTimer(time.Until(deadline))
	defer timer.Stop()
	ticker := time.NewTicker(readyPoll)
	defer ticker.Stop()
	pidFile := filepath.Join(c.DataDir, "postmaster.pid")
	for {
		if postmasterReady(pidFile, srv.cmd.Process.Pid) {
			return nil
		}
		select {
		case <-srv.exited:
			return fmt.Errorf("postgres exited during startup (%v)", srv.waitErr)
		case <-ctx.Done():
			return fmt.Errorf("waiting for postgres to start: %w", ctx.Err())
		case <-timer.C:
			return fmt.Errorf("postgres did not become ready within %s", readyCap)
		case <-ticker.C:
		}
	}
}

// postmasterReady reports whether the postmaster.pid file belongs to pid and
// its eighth line (the postmaster status) reads "ready".
func postmasterReady(pidFile string, pid int) bool {
	b, err := os.ReadFile(pidFile)
	if err != nil {
		return false
	}
	lines := strings.Split(string(b), "\n")
	if len(lines) < 8 {
		return false
	}
	return strings.TrimSpace(lines[0]) == strconv.Itoa(pid) && strings.TrimSpace(lines[7]) == "ready"
}

// shutdown stops the postmaster: SIGINT (fast shutdown), then SIGKILL to
// its whole process group if it has not exited within shutdownGrace.
func (s *server) shutdown() error {
	select {
	case <-s.exited:
		return nil
	default:
	}
	_ = interruptProcess(s.cmd.Process)
	t := time.NewTimer(shutdownGrace)
	defer t.Stop()
	select {
	case <-s.exited:
		return nil
	case <-t.C:
	}
	pgid := s.cmd.Process.Pid
	if err := killGroup(pgid); err != nil {
		return fmt.Errorf("sandbox: kill postgres process group %d: %w", pgid, err)
	}
	t2 := time.NewTimer(killGrace)
	defer t2.Stop()
	select {
	case <-s.exited:
		return nil
	case <-t2.C:
		return fmt.Errorf("sandbox: postgres (pid %d) did not exit after SIGKILL", pgid)
	}
}

// readFrom returns the content of path from offset on, at most the last
// logTailBytes of it.
func readFrom(path string, offset int64) string {
	f, err := os.Open(path)
	if err != nil {
		return ""
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return ""
	}
	if fi.Size()-offset > logTailBytes {
		offset = fi.Size() - logTailBytes
	}
	if _, err := f.Seek(offset, io.SeekStart); err != nil {
		return ""
	}
	b, _ := io.ReadAll(f)
	return string(b)
}

// lastLines returns at most the last n lines of s.
func lastLines(s string, n int) string {
	s = strings.TrimRight(s, "\n")
	lines := strings.Split(s, "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// indent prefixes every line of s with two spaces.
func indent(s string) string {
	s = strings.TrimRight(s, "\n")
	if s == "" {
		return "  (no output)"
	}
	var b bytes.Buffer
	for _, line := range strings.Split(s, "\n") {
		b.WriteString("  ")
		b.WriteString(line)
		b.WriteByte('\n')
	}
	return strings.TrimRight(b.String(), "\n")
}
