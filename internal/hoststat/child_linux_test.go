package hoststat

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/pgrunbook/pgrunbook/internal/pg/pgtest"
)

// childEnv, when set to "PID UNIXNANO", makes the test binary sample that
// backend, print the result as JSON and exit (see TestMain).
const childEnv = "HOSTSTAT_TEST_CHILD"

// nobody is the uid and gid the child runs as when the tests run as root.
const nobody = 65534

func runChild() (int, bool) {
	spec := os.Getenv(childEnv)
	if spec == "" {
		return 0, false
	}
	var pid int
	var nanos int64
	if _, err := fmt.Sscan(spec, &pid, &nanos); err != nil {
		fmt.Fprintf(os.Stderr, "bad %s=%q: %v\n", childEnv, spec, err)
		return 2, true
	}
	got, err := Sample(context.Background(), []Backend{{PID: pid, BackendStart: time.Unix(0, nanos)}}, 100*time.Millisecond)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1, true
	}
	if err := json.NewEncoder(os.Stdout).Encode(got); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1, true
	}
	return 0, true
}

// TestSampleUnprivileged samples a backend as a user other than the
// server's: identity, CPU and memory are read, /proc/PID/io is not, and
// Stats says why instead of failing.
func TestSampleUnprivileged(t *testing.T) {
	t.Parallel()
	db := pgtest.CreateDatabase(t, "hoststat_unpriv")
	b := backendOf(t, pgtest.ConnectTo(t, db))
	serverUID := processUID(t, b.PID)

	var got map[int]Stats
	switch euid := os.Geteuid(); {
	case euid == 0:
		got = sampleAsNobody(t, b)
	case euid != serverUID:
		// Already unprivileged towards the server: sample in process.
		var err error
		if got, err = Sample(testCtx(t), []Backend{b}, 100*time.Millisecond); err != nil {
			t.Fatal(err)
		}
	default:
		t.Fatalf("the tests run as the server's OS user (uid %d) without root: no user to sample as who lacks access to /proc/PID/io", euid)
	}

	st, ok := got[b.PID]
	if !ok {
		t.Fatalf("backend %d missing from %v", b.PID, got)
	}
	if !st.Available(FactCPU) || !st.Available(FactMemory) {
		t.Errorf("CPU or memory unavailable to another user: %v", st.Unavailable)
	}
	if st.MemoryBytes <= 0 {
		t.Errorf("MemoryBytes = %d, want > 0", st.MemoryBytes)
	}
	if st.Available(FactIO) {
		t.Fatalf("/proc/%d/io read by a user other than the server's: %+v", b.PID, st)
	}
	if why := st.Unavailable[FactIO]; !strings.Contains(why, "permission denied") {
		t.Errorf("I/O unavailable because %q, want it to say permission denied", why)
	}
	if st.ReadBytesPerSec != 0 || st.WriteBytesPerSec != 0 {
		t.Errorf("unavailable I/O rates are not zero: %+v", st)
	}
}

// sampleAsNobody runs a copy of the test binary as uid nobody to sample b.
func sampleAsNobody(t *testing.T, b Backend) map[int]Stats {
	t.Helper()
	// The go tool builds the test binary in a directory only root may
	// enter; nobody needs a copy it can execute.
	dir, err := os.MkdirTemp("", "hoststat-child-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(dir, "hoststat.test")
	copyFile(t, self, bin)

	ctx := testCtx(t)
	cmd := exec.CommandContext(ctx, bin)
	cmd.Env = append(os.Environ(), childEnv+"="+strconv.Itoa(b.PID)+" "+strconv.FormatInt(b.BackendStart.UnixNano(), 10))
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: nobody, Gid: nobody}}
	cmd.Dir = dir
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("sampling as uid %d: %v\n%s", nobody, err, stderr.String())
	}
	var got map[int]Stats
	if err := json.Unmarshal(stdout.Bytes(), &got); err != nil {
		t.Fatalf("child output %q: %v", stdout.String(), err)
	}
	return got
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	src, err := os.Open(from)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	dst, err := os.OpenFile(to, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o755)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(dst, src); err != nil {
		dst.Close()
		t.Fatal(err)
	}
	if err := dst.Close(); err != nil {
		t.Fatal(err)
	}
}

// processUID returns the real uid of pid from /proc/PID/status.
func processUID(t *testing.T, pid int) int {
	t.Helper()
	raw, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		t.Fatal(err)
	}
	for line := range strings.Lines(string(raw)) {
		if rest, ok := strings.CutPrefix(line, "Uid:"); ok {
			fields := strings.Fields(rest)
			if len(fields) > 0 {
				uid, err := strconv.Atoi(fields[0])
				if err != nil {
					t.Fatal(err)
				}
				return uid
			}
		}
	}
	t.Fatalf("no Uid line in /proc/%d/status", pid)
	return 0
}
