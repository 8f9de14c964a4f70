//go:build unix

package sandbox

import (
	"bytes"
	"context"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// lockedBuffer is an io.Writer safe for concurrent use.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func startCluster(t *testing.T, opts Options) *Cluster {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	c, err := Start(ctx, opts)
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(func() { _ = c.Stop() })
	return c
}

func psql(t *testing.T, c *Cluster, sql string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, err := c.Command(ctx, "psql", "-X", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-c", sql).CombinedOutput()
	if err != nil {
		t.Fatalf("psql -c %q: %v\n%s", sql, err, out)
	}
	return strings.TrimSpace(string(out))
}

func TestFindBinDir(t *testing.T) {
	dir, err := FindBinDir("")
	if err != nil {
		t.Fatalf("FindBinDir: %v", err)
	}
	if err := checkBinDir(dir); err != nil {
		t.Fatalf("FindBinDir returned %s: %v", dir, err)
	}
	// The overridden directory must contain the binaries.
	if got, err := FindBinDir(dir); err != nil || got != dir {
		t.Fatalf("FindBinDir(%q) = %q, %v", dir, got, err)
	}
	if _, err := FindBinDir(t.TempDir()); err == nil {
		t.Fatal("FindBinDir accepted an empty directory")
	}
}

// fakeBinDir makes a directory holding executable files of the given
// names (they never run).
func fakeBinDir(t *testing.T, names ...string) string {
	t.Helper()
	dir := t.TempDir()
	for _, name := range names {
		if err := os.WriteFile(filepath.Join(dir, name), []byte("#!/bin/sh\nexit 1\n"), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func TestFindBinDirFromEnvironment(t *testing.T) {
	fromEnv := fakeBinDir(t, "initdb", "postgres")
	t.Setenv(EnvBinDir, fromEnv)
	if got, err := FindBinDir(""); err != nil || got != fromEnv {
		t.Fatalf("FindBinDir(\"\") with $%s=%s = %q, %v", EnvBinDir, fromEnv, got, err)
	}
	// An explicit directory wins over the variable.
	explicit := fakeBinDir(t, "initdb", "postgres")
	if got, err := FindBinDir(explicit); err != nil || got != explicit {
		t.Fatalf("FindBinDir(%q) = %q, %v", explicit, got, err)
	}
	// A variable naming an unusable directory is an error, not a reason
	// to search elsewhere: the caller asked for those binaries.
	t.Setenv(EnvBinDir, fakeBinDir(t, "initdb"))
	_, err := FindBinDir("")
	if err == nil || !strings.Contains(err.Error(), "$"+EnvBinDir) || !strings.Contains(err.Error(), "missing executable postgres") {
		t.Fatalf("FindBinDir(\"\") with a directory lacking postgres: %v", err)
	}
}

func TestFindProgram(t *testing.T) {
	own := fakeBinDir(t, "initdb", "postgres", "pgbench")
	if got, err := FindProgram(own, "pgbench"); err != nil || got != filepath.Join(own, "pgbench") {
		t.Errorf("FindProgram(own, pgbench) = %q, %v; want the one in %s", got, err, own)
	}
	// A server-only directory borrows client programs from another
	// installation; the harness needs psql from one.
	serverOnly := fakeBinDir(t, "initdb", "postgres")
	psql, err := FindProgram(serverOnly, "psql")
	if err != nil || psql == filepath.Join(serverOnly, "psql") || !isProgram(psql) {
		t.Errorf("FindProgram(server-only, psql) = %q, %v; want an installed psql", psql, err)
	}
	// A program nobody has is an error; a cluster's command for it stays
	// in BinDir, so that running it fails with a clear "no such file".
	missing := "pgrunbook-no-such-program"
	if got, err := FindProgram(serverOnly, missing); err == nil || !strings.Contains(err.Error(), serverOnly) {
		t.Errorf("FindProgram(server-only, %s) = %q, %v; want an error naming %s", missing, got, err, serverOnly)
	}
	c := &Cluster{BinDir: serverOnly}
	if got := c.ProgramPath(missing); got != filepath.Join(serverOnly, missing) {
		t.Errorf("ProgramPath(%s) = %q", missing, got)
	}
	if got := c.ProgramPath("psql"); got != psql {
		t.Errorf("ProgramPath(psql) = %q, want %q", got, psql)
	}
}

func TestNotFoundErrorExplainsInstall(t *testing.T) {
	err := notFoundError([]string{"/nowhere (test): missing executable initdb"})
	if !errors.Is(err, ErrNoPostgres) {
		t.Fatalf("error does not wrap ErrNoPostgres: %v", err)
	}
	for _, want := range []string{"apt-get install postgresql", "brew install postgresql@16", "dnf install postgresql-server", "/nowhere"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q:\n%v", want, err)
		}
	}
}

func TestWellKnownBinDirsOrder(t *testing.T) {
	dirs := wellKnownBinDirs()
	for _, d := range dirs {
		if !strings.HasSuffix(d, string(filepath.Separator)+"bin") {
			t.Errorf("unexpected candidate %q", d)
		}
	}
}

func TestQuoteConnValue(t *testing.T) {
	for in, want := range map[string]string{
		"postgres": "postgres",
		"":         "''",
		"my db":    "'my db'",
		`it's`:     `'it\'s'`,
		`a\b`:      `'a\\b'`,
	} {
		if got := quoteConnValue(in); got != want {
			t.Errorf("quoteConnValue(%q) = %s, want %s", in, got, want)
		}
	}
}

func TestStartStop(t *testing.T) {
	var log lockedBuffer
	c := startCluster(t, Options{Log: &log, Settings: map[string]string{"max_connections": "42"}})

	if c.Port == 0 || c.PID() == 0 {
		t.Fatalf("cluster not started: port %d pid %d", c.Port, c.PID())
	}
	if want := "host=127.0.0.1 port="; !strings.HasPrefix(c.DSN("x"), want) || !strings.HasSuffix(c.DSN("x"), " user=postgres dbname=x sslmode=disable") {
		t.Errorf("unexpected DSN %q", c.DSN("x"))
	}
	if got := psql(t, c, "SELECT current_user"); got != "postgres" {
		t.Errorf("current_user = %q", got)
	}
	if got := psql(t, c, "SHOW max_connections"); got != "42" {
		t.Errorf("max_connections = %q, want the Settings override 42", got)
	}
	if got := psql(t, c, "SHOW fsync"); got != "off" {
		t.Errorf("fsync = %q", got)
	}
	if os.Geteuid() == 0 {
		fi, err := os.Stat(c.DataDir)
		if err != nil {
			t.Fatal(err)
		}
		as, err := serverUser()
		if err != nil {
			t.Fatal(err)
		}
		if st := fi.Sys().(*syscall.Stat_t); st.Uid != as.uid {
			t.Errorf("data directory owned by uid %d, want %d", st.Uid, as.uid)
		}
	}

	pid := c.PID()
	if err := c.Stop(); err != nil {
		t.Fatalf("Stop: %v", err)
	}
	if groupAlive(pid) {
		t.Errorf("process group %d still has processes after Stop", pid)
	}
	if _, err := os.Stat(c.Dir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("cluster directory %s still exists after Stop (stat: %v)", c.Dir, err)
	}
	if err := c.Stop(); err != nil {
		t.Errorf("second Stop: %v", err)
	}
	if !strings.Contains(log.String(), "database system is ready to accept connections") {
		t.Errorf("Options.Log did not receive the server log:\n%s", log.String())
	}
}

func TestStartRetriesWhenPortTaken(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	taken := l.Addr().(*net.TCPAddr).Port

	orig := pickPort
	t.Cleanup(func() { pickPort = orig })
	calls := 0
	pickPort = func() (int, error) {
		calls++
		if calls == 1 {
			return taken, nil
		}
		return orig()
	}

	c := startCluster(t, Options{})
	if c.Port == taken {
		t.Fatalf("cluster claims the taken port %d", taken)
	}
	if calls < 2 {
		t.Fatalf("pickPort called %d times, want a retry", calls)
	}
	if got := psql(t, c, "SELECT 1"); got != "1" {
		t.Errorf("SELECT 1 = %q", got)
	}
}

func TestStartExplicitPortInUse(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	taken := l.Addr().(*net.TCPAddr).Port

	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	c, err := Start(ctx, Options{Port: taken})
	if err == nil {
		_ = c.Stop()
		t.Fatal("Start succeeded on a port that is in use")
	}
	var se *startupError
	if !errors.As(err, &se) || !se.addrInUse {
		t.Fatalf("want an address-in-use startup error, got: %v", err)
	}
	if !strings.Contains(err.Error(), "server log:") {
		t.Errorf("error does not quote the server log: %v", err)
	}
}
