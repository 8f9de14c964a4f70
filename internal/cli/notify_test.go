//go:build unix

package cli_test

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/pgrunbook/pgrunbook/internal/incident"
	"github.com/pgrunbook/pgrunbook/internal/pg/pgtest"
	"github.com/pgrunbook/pgrunbook/internal/transcript"
)

// notifyRun starts an unattended cancel of one long statement with the
// extra flags, and returns the command and the transcript's path.
func notifyRun(t *testing.T, dir string, extra ...string) (wait func() int, path string) {
	t.Helper()
	db := pgtest.CreateDatabase(t, "notify")
	long, err := incident.LongQuery(context.Background(), pgtest.DSNFor(db), "notify-long", time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(long.Close)
	path = filepath.Join(dir, "run.jsonl")
	args := append([]string{"run", "cancel-long-queries", "--yes", "-d", pgtest.DSNFor(db),
		"--set", "min_runtime=0s", "--set", "database=" + db, "--transcript", path}, extra...)
	cmd := startRun(t, dir, args...)
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-done
	})
	return func() int {
		select {
		case <-done:
		case <-time.After(exitDeadline):
			t.Fatalf("pgrunbook did not exit within %s", exitDeadline)
		}
		return cmd.ProcessState.ExitCode()
	}, path
}

// TestNotifyGetsEventsInOrderWithoutHoldingUpTheRun: the --notify command
// receives each intent, action and run_finished event as one JSON line,
// in order. The first notification blocks on a fifo that the test opens
// only once the run has recorded its signal and finished: had the run
// waited for it, it could not have got there (the notify timeout is far
// longer than the test's wait).
func TestNotifyGetsEventsInOrderWithoutHoldingUpTheRun(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	fifo := filepath.Join(dir, "release")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	got := filepath.Join(dir, "notified.jsonl")
	notify := `cat >> notified.jsonl && read go < release`
	wait, path := notifyRun(t, dir, "--notify", notify, "--notify-timeout", "10m")

	awaitInTranscript(t, path, `"type":"run_finished"`, "the run did not finish while its first notification was blocked")
	evs := readEvents(t, path)
	var signalled bool
	for _, ev := range evs {
		signalled = signalled || ev.Type == transcript.Action && ev.Outcome == "signalled"
		if ev.Type == transcript.Warning && strings.Contains(ev.Text, "--notify") {
			t.Errorf("warning before the release: %s", ev.Text)
		}
	}
	if !signalled {
		t.Fatal("no signalled action in the transcript")
	}
	// The first command may still be copying its line when the run ends:
	// wait for a complete line, then check that it is the only one.
	awaitCompleteLine(t, got)
	if lines := notifiedTypes(t, got); !slices.Equal(lines, []string{transcript.Intent}) {
		t.Errorf("before the release the command had received %v, want only the intent (one command at a time)", lines)
	}

	// Release every notification: the pipe stays open for writing, so
	// each later `read` finds its line.
	release, err := os.OpenFile(fifo, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer release.Close()
	if _, err := release.WriteString(strings.Repeat("go\n", 64)); err != nil {
		t.Fatal(err)
	}
	if code := wait(); code != 0 {
		t.Fatalf("exit %d, want 0", code)
	}
	var want []int64
	var wantTypes []string
	for _, ev := range readEvents(t, path) {
		switch ev.Type {
		case transcript.Intent, transcript.Action, transcript.RunFinished:
			want = append(want, ev.Seq)
			wantTypes = append(wantTypes, ev.Type)
		case transcript.Warning:
			if strings.Contains(ev.Text, "--notify") {
				t.Errorf("warning: %s", ev.Text)
			}
		}
	}
	var seqs []int64
	for _, line := range notifiedLines(t, got) {
		seqs = append(seqs, line.Seq)
	}
	if !slices.Equal(seqs, want) {
		t.Errorf("the command received events %v (%v), want %v (%v)", seqs, notifiedTypes(t, got), want, wantTypes)
	}
}

// TestNotifyFailuresAreRecordedNotFatal: a --notify command that fails,
// or outlives its timeout, is recorded as a warning and changes neither
// the run's outcome nor its exit code.
func TestNotifyFailuresAreRecordedNotFatal(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, command, warning string
	}{
		{"fails", "echo no webhook >&2; exit 3", "the command failed (exit status 3): no webhook"},
		{"slow", "sleep 60", "was still running after 100ms and was killed"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			wait, path := notifyRun(t, t.TempDir(), "--notify", tc.command, "--notify-timeout", "100ms")
			if code := wait(); code != 0 {
				t.Fatalf("exit %d, want 0", code)
			}
			evs := readEvents(t, path)
			var finished *transcript.Event
			warnings := 0
			for i, ev := range evs {
				switch {
				case ev.Type == transcript.RunFinished:
					finished = &evs[i]
				case ev.Type == transcript.Warning && strings.Contains(ev.Text, tc.warning):
					warnings++
				}
			}
			if finished == nil || finished.RunOutcome() != transcript.RunDone {
				t.Fatalf("run_finished %+v, want outcome done", finished)
			}
			// intent, action, run_finished: one warning each.
			if warnings != 3 {
				t.Errorf("%d warnings saying %q, want 3", warnings, tc.warning)
			}
		})
	}
}

// notifiedLines reads what the --notify command received.
func notifiedLines(t *testing.T, path string) []transcript.Event {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var out []transcript.Event
	for _, line := range strings.Split(strings.TrimSpace(string(data)), "\n") {
		var ev transcript.Event
		if err := json.Unmarshal([]byte(line), &ev); err != nil {
			t.Fatalf("not one JSON event per line: %q: %v", line, err)
		}
		out = append(out, ev)
	}
	return out
}

// awaitCompleteLine polls, for at most 20 seconds, until path holds at
// least one line and ends with a newline.
func awaitCompleteLine(t *testing.T, path string) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		data, err := os.ReadFile(path)
		if err == nil && len(data) > 0 && data[len(data)-1] == '\n' {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s holds no complete line after 20s: %q (%v)", path, data, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func notifiedTypes(t *testing.T, path string) []string {
	t.Helper()
	var types []string
	for _, ev := range notifiedLines(t, path) {
		types = append(types, ev.Type)
	}
	return types
}
