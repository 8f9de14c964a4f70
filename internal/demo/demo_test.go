//go:build unix

package main

import (
	"bytes"
	"context"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/pgrunbook/pgrunbook/internal/transcript"
)

// TestDemo runs the whole demo on its own sandbox cluster and checks that
// it resolves the incident and leaves nothing running behind.
func TestDemo(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	var out syncBuffer
	res, err := run(ctx, &out, config{TranscriptDir: t.TempDir()})
	t.Logf("demo output:\n%s", out.String())
	if err != nil {
		t.Fatalf("run: %v", err)
	}
	if !res.Resolved || len(res.Failures) > 0 {
		t.Errorf("not resolved; failures: %q", res.Failures)
	}
	text := out.String()
	if !strings.Contains(text, "RESOLVED with zero collateral damage") {
		t.Errorf("the report does not say RESOLVED with zero collateral damage")
	}
	if strings.Contains(text, "[FAIL]") {
		t.Errorf("the scorecard has a failed check")
	}
	if n := strings.Count(text, "\n  [ok]"); n < 10 {
		t.Errorf("the scorecard has %d passed checks, want at least 10", n)
	}

	if len(res.Transcripts) != 2 {
		t.Fatalf("transcripts = %q, want one per playbook", res.Transcripts)
	}
	for _, p := range res.Transcripts {
		checkTranscript(t, p)
	}
	assertTornDown(t, res)
}

// TestDemoInterrupted cancels the demo while the first playbook runs, as
// Ctrl-C does, and checks that it reports the interruption and still
// tears everything down.
func TestDemoInterrupted(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	ictx, interrupt := context.WithCancel(ctx)
	defer interrupt()
	out := &syncBuffer{trigger: "[2] Find sessions waiting on a lock", fire: interrupt}
	res, err := run(ictx, out, config{TranscriptDir: t.TempDir()})
	t.Logf("demo output:\n%s", out.String())
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("run after an interrupt returned %v, want context.Canceled", err)
	}
	if res.Resolved {
		t.Errorf("an interrupted demo says it resolved the incident")
	}
	if !strings.Contains(out.String(), "INTERRUPTED") {
		t.Errorf("the report does not say it was interrupted")
	}
	if res.PostmasterPID == 0 {
		t.Fatalf("the cluster was never started; the interrupt came too early to test teardown")
	}
	assertTornDown(t, res)
}

// checkTranscript reads a kept transcript and checks that the run ended
// done with exit code 0 and that the file is private.
func checkTranscript(t *testing.T, path string) {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatalf("transcript: %v", err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("%s: mode %v, want 0600", path, fi.Mode().Perm())
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	rr, err := transcript.Read(f)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	if len(rr.Events) == 0 {
		t.Fatalf("%s: empty", path)
	}
	last := rr.Events[len(rr.Events)-1]
	if last.Type != transcript.RunFinished || last.ExitCode == nil || *last.ExitCode != 0 {
		t.Errorf("%s: last event %+v, want run_finished with exit code 0", path, last)
	}
}

// assertTornDown checks that no process, port or directory of the demo's
// cluster remains.
func assertTornDown(t *testing.T, res *outcome) {
	t.Helper()
	if res.PostmasterPID == 0 {
		return
	}
	// The postmaster led its own process group, which held every backend.
	if err := syscall.Kill(-res.PostmasterPID, 0); !errors.Is(err, syscall.ESRCH) {
		t.Errorf("postgres process group %d still exists (kill: %v)", res.PostmasterPID, err)
	}
	if err := syscall.Kill(res.PostmasterPID, 0); !errors.Is(err, syscall.ESRCH) {
		t.Errorf("postmaster pid %d still exists (kill: %v)", res.PostmasterPID, err)
	}
	if res.PgbenchPID != 0 {
		if err := syscall.Kill(res.PgbenchPID, 0); !errors.Is(err, syscall.ESRCH) {
			t.Errorf("pgbench pid %d still exists (kill: %v)", res.PgbenchPID, err)
		}
	}
	if procs := processesMentioning(res.ClusterDir); len(procs) > 0 {
		t.Errorf("processes still refer to %s: %v", res.ClusterDir, procs)
	}
	for _, dir := range []string{res.ClusterDir, res.SocketDir} {
		if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s was not removed (stat: %v)", dir, err)
		}
	}
	l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(res.Port)))
	if err != nil {
		t.Errorf("port %d is still taken: %v", res.Port, err)
	} else {
		l.Close()
	}
}

// processesMentioning lists the pids whose command line contains s, where
// /proc exists (Linux); elsewhere it finds nothing.
func processesMentioning(s string) []string {
	paths, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	var pids []string
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			continue
		}
		if bytes.Contains(b, []byte(s)) {
			pids = append(pids, filepath.Base(filepath.Dir(p)))
		}
	}
	return pids
}

// syncBuffer collects the demo's output; when trigger is set, it calls
// fire once the output contains it.
type syncBuffer struct {
	mu      sync.Mutex
	b       bytes.Buffer
	trigger string
	fire    func()
	fired   bool
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	n, err := s.b.Write(p)
	if s.trigger != "" && !s.fired && bytes.Contains(s.b.Bytes(), []byte(s.trigger)) {
		s.fired = true
		s.fire()
	}
	return n, err
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
