package cli_test

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/pgrunbook/pgrunbook/internal/incident"
	"github.com/pgrunbook/pgrunbook/internal/pg/pgtest"
	"github.com/pgrunbook/pgrunbook/internal/transcript"
)

// resumedPart returns the run_resumed event of a transcript and the
// events after it.
func resumedPart(t *testing.T, events []transcript.Event) (transcript.Event, []transcript.Event) {
	t.Helper()
	for i, ev := range events {
		if ev.Type == transcript.RunResumed {
			return ev, events[i+1:]
		}
	}
	t.Fatal("the transcript has no run_resumed event")
	return transcript.Event{}, nil
}

// actions counts the action events of fn for pid with outcome.
func actions(events []transcript.Event, fn string, pid int, outcome string) int {
	n := 0
	for _, ev := range events {
		if ev.Type == transcript.Action && string(ev.Function) == fn && ev.PID == pid && ev.Outcome == outcome {
			n++
		}
	}
	return n
}

// checkResumedTranscript reads a resumed transcript, checks that replay
// --verify passes on it and that it ends done with exit 0.
func checkResumedTranscript(t *testing.T, dir, path string) []transcript.Event {
	t.Helper()
	if v := pgrunbook(t, dir, nil, "replay", "--verify", path); v.code != 0 {
		t.Errorf("replay --verify of the resumed transcript: exit %d\n%s%s", v.code, v.stdout, v.stderr)
	}
	if v := pgrunbook(t, dir, nil, "replay", path); v.code != 0 {
		t.Errorf("replay of the resumed transcript: exit %d\n%s", v.code, v.stderr)
	}
	res, err := transcript.ReadFile(path)
	if err != nil || res.Truncated {
		t.Fatalf("resumed transcript: %v (truncated %v)", err, res.Truncated)
	}
	last := res.Events[len(res.Events)-1]
	if last.Type != transcript.RunFinished || last.RunOutcome() != transcript.RunDone || last.ExitCode == nil || *last.ExitCode != 0 {
		t.Errorf("last event %s %s %q, want run_finished done", last.Type, last.Outcome, last.Message)
	}
	return res.Events
}

// awaitDone waits up to 20s for a staged session's statement to end.
func awaitDone(t *testing.T, s *incident.Session, what string) {
	t.Helper()
	select {
	case <-s.Done():
	case <-time.After(20 * time.Second):
		t.Fatal(what)
	}
}

// TestResumeAfterSIGINTDuringVerify: a run interrupted (SIGINT, or SIGHUP
// when the terminal goes away) while it verifies
// a cancel that a stubborn query ignored is resumed with --yes: the
// verify runs again, the query is escalated to terminate, the cancel is
// not sent again, and the chain holds over both parts.
func TestResumeAfterSIGINTDuringVerify(t *testing.T) {
	t.Parallel()
	// SIGHUP is the operator's SSH connection dropping: the run ends the
	// same way, and resume carries it on the same way.
	for _, sig := range []os.Signal{os.Interrupt, syscall.SIGHUP} {
		t.Run(sig.String(), func(t *testing.T) {
			t.Parallel()
			resumeAfterSignalDuringVerify(t, sig)
		})
	}
}

func resumeAfterSignalDuringVerify(t *testing.T, sig os.Signal) {
	want := map[os.Signal]string{os.Interrupt: "interrupted by the operator (Ctrl-C)", syscall.SIGHUP: hangupMessage}[sig]
	run := signalDuringVerify(t, sig, want)
	dir, path, dsn, stubborn := run.dir, run.path, run.dsn, run.stubborn

	r := pgrunbook(t, dir, nil, "resume", path, "--yes", "-d", dsn)
	if r.code != 0 {
		t.Fatalf("resume: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	awaitDone(t, stubborn, "the stubborn query survived the resumed run")
	events := checkResumedTranscript(t, dir, path)
	resumed, after := resumedPart(t, events)
	if resumed.Step != "stopped" || resumed.Resumed == nil || resumed.Resumed.PreviousOutcome != "interrupted" || resumed.Resumed.By == "" {
		t.Errorf("run_resumed: step %q, %+v; want step stopped after an interrupted run, with who resumed", resumed.Step, resumed.Resumed)
	}
	pid := stubborn.PID
	if n := actions(events, "pg_cancel_backend", pid, "signalled"); n != 1 {
		t.Errorf("pid %d was cancelled %d times over both parts, want once", pid, n)
	}
	if n := actions(after, "pg_cancel_backend", pid, "signalled"); n != 0 {
		t.Error("the resumed part sent the cancel again")
	}
	if n := actions(after, "pg_terminate_backend", pid, "signalled"); n != 1 {
		t.Errorf("the resumed part terminated pid %d %d times, want once", pid, n)
	}
}

// TestResumeReconcilesAnIntentWithoutOutcome: a run killed with kill -9
// after it recorded the intent to cancel two statements, before their
// outcomes reached the file (the transcript is cut there, mid-line, as a
// kill during the write leaves it), is resumed: each target is
// reconciled on a fresh snapshot, nothing is cancelled again, the
// cancelled statement counts as changed and only the stubborn one is
// terminated.
func TestResumeReconcilesAnIntentWithoutOutcome(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := pgtest.CreateDatabase(t, "reskill")
	dsn := pgtest.DSNFor(db)
	stubborn, err := incident.StubbornQuery(ctx, dsn, "etl", 2*time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(stubborn.Close)
	long, err := incident.LongQuery(ctx, dsn, "report", 2*time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(long.Close)
	dir := t.TempDir()
	path := filepath.Join(dir, "run.jsonl")
	cmd := startRun(t, dir, "run", "cancel-long-queries", "--yes", "-d", dsn,
		"--set", "min_runtime=0s", "--set", "database="+db, "--transcript", path)
	awaitInTranscript(t, path, `"type":"action"`, "the run never reached its cancel")
	_ = cmd.Process.Signal(syscall.SIGKILL)
	_ = cmd.Wait()
	awaitDone(t, long, "the plain long query was not cancelled")

	// Cut the record after the intent, halfway into the next line.
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.SplitAfter(string(data), "\n")
	cut := -1
	for i, l := range lines {
		if strings.Contains(l, `"type":"intent"`) {
			cut = i + 1
			break
		}
	}
	if cut < 0 || cut >= len(lines) {
		t.Fatalf("no intent followed by an outcome in\n%s", data)
	}
	partial := lines[cut][:len(lines[cut])/2]
	if err := os.WriteFile(path, []byte(strings.Join(lines[:cut], "")+partial), 0o600); err != nil {
		t.Fatal(err)
	}

	r := pgrunbook(t, dir, nil, "resume", path, "--yes", "-d", dsn)
	if r.code != 0 {
		t.Fatalf("resume: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	awaitDone(t, stubborn, "the stubborn query survived the resumed run")
	if !long.Alive(ctx) {
		t.Error("the session whose statement was cancelled was terminated")
	}
	events := checkResumedTranscript(t, dir, path)
	resumed, after := resumedPart(t, events)
	if resumed.Step != "cancel" || resumed.Resumed == nil || resumed.Resumed.Reconcile != 2 || resumed.Resumed.DroppedLine != partial {
		t.Errorf("run_resumed: step %q, %+v; want step cancel, 2 to reconcile, the cut-off line kept", resumed.Step, resumed.Resumed)
	}
	if n := actions(after, "pg_cancel_backend", stubborn.PID, "reconciled_unchanged"); n != 1 {
		t.Errorf("stubborn pid %d: %d reconciled_unchanged cancel outcomes, want 1", stubborn.PID, n)
	}
	if n := actions(after, "pg_cancel_backend", long.PID, "reconciled_changed"); n != 1 {
		t.Errorf("cancelled pid %d: %d reconciled_changed cancel outcomes, want 1", long.PID, n)
	}
	for _, pid := range []int{stubborn.PID, long.PID} {
		if n := actions(events, "pg_cancel_backend", pid, "signalled"); n != 0 {
			t.Errorf("pid %d has %d cancel outcomes signalled: the cancel was re-sent", pid, n)
		}
	}
	if n := actions(after, "pg_terminate_backend", stubborn.PID, "signalled"); n != 1 {
		t.Errorf("stubborn pid terminated %d times, want once", n)
	}
	if n := actions(after, "pg_terminate_backend", long.PID, "signalled"); n != 0 {
		t.Error("the session whose statement stopped was terminated")
	}
}

// TestResumeRefusesAChangedPlaybook: a run of a playbook file that was
// edited after the run is refused with exit 2 and the transcript left
// as it was, unless --accept-changed-playbook, which is recorded. A dry
// run resumes only as a dry run, and a run that ended done does not
// resume at all.
func TestResumeRefusesAChangedPlaybook(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := pgtest.CreateDatabase(t, "reschg")
	dsn := pgtest.DSNFor(db)
	long, err := incident.LongQuery(ctx, dsn, "report", 2*time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(long.Close)
	dir := t.TempDir()
	src, err := os.ReadFile(filepath.Join(repoRoot, "playbooks", "cancel-long-queries.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	pbPath := filepath.Join(dir, "cancel.yaml")
	if err := os.WriteFile(pbPath, src, 0o644); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "run.jsonl")
	run := pgrunbook(t, dir, nil, "run", pbPath, "--dry-run", "-d", dsn,
		"--set", "min_runtime=0s", "--set", "database="+db, "--transcript", path)
	if run.code != 0 {
		t.Fatalf("dry run: exit %d\n%s%s", run.code, run.stdout, run.stderr)
	}
	if r := pgrunbook(t, dir, nil, "resume", path, "--dry-run", "-d", dsn); r.code != 2 || !strings.Contains(r.stderr, "nothing to resume") {
		t.Errorf("resume of a finished run: exit %d %s", r.code, r.stderr)
	}
	// Cut the record after the confirmation's answer, as a kill leaves it.
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.SplitAfter(string(data), "\n")
	cut := -1
	for i, l := range lines {
		if strings.Contains(l, `"type":"prompt"`) {
			cut = i + 1
			break
		}
	}
	if cut < 0 {
		t.Fatalf("no prompt in\n%s", data)
	}
	killed := []byte(strings.Join(lines[:cut], ""))
	if err := os.WriteFile(path, killed, 0o600); err != nil {
		t.Fatal(err)
	}
	started, err := transcript.Read(bytes.NewReader(killed))
	if err != nil {
		t.Fatal(err)
	}
	oldSHA := started.Events[0].SHA256

	if r := pgrunbook(t, dir, nil, "resume", path, "--yes", "-d", dsn); r.code != 2 || !strings.Contains(r.stderr, "dry run") {
		t.Errorf("resume of a dry run with --yes: exit %d %s", r.code, r.stderr)
	}
	edited := bytes.Replace(src, []byte("title: Cancel the approved statements"), []byte("title: Cancel the approved statements now"), 1)
	if bytes.Equal(edited, src) {
		t.Fatal("the edit did not apply")
	}
	if err := os.WriteFile(pbPath, edited, 0o644); err != nil {
		t.Fatal(err)
	}
	refused := pgrunbook(t, dir, nil, "resume", path, "--dry-run", "-d", dsn)
	if refused.code != 2 || !strings.Contains(refused.stderr, "changed") || !strings.Contains(refused.stderr, oldSHA) {
		t.Errorf("resume with a changed playbook: exit %d %s; want 2 naming the recorded sha256", refused.code, refused.stderr)
	}
	if after, _ := os.ReadFile(path); !bytes.Equal(after, killed) {
		t.Error("the refused resume changed the transcript")
	}

	ok := pgrunbook(t, dir, nil, "resume", path, "--dry-run", "--accept-changed-playbook", "-d", dsn)
	if ok.code != 0 {
		t.Fatalf("resume --accept-changed-playbook: exit %d\n%s%s", ok.code, ok.stdout, ok.stderr)
	}
	events := checkResumedTranscript(t, dir, path)
	resumed, after := resumedPart(t, events)
	if resumed.Resumed == nil || resumed.Resumed.PlaybookChanged != oldSHA || resumed.SHA256 == oldSHA || resumed.Step != "cancel" {
		t.Errorf("run_resumed %+v (step %q, sha256 %s): want the accepted change from %s, going on at cancel", resumed.Resumed, resumed.Step, resumed.SHA256, oldSHA)
	}
	if n := actions(after, "pg_cancel_backend", long.PID, "dry_run"); n != 1 {
		t.Errorf("the resumed dry run recorded %d cancels of pid %d, want 1", n, long.PID)
	}
	if !long.Alive(ctx) {
		t.Error("a dry run touched a session")
	}
	select {
	case <-long.Done():
		t.Error("a dry run stopped a statement")
	default:
	}
}
