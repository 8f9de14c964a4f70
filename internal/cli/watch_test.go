package cli_test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/pgrunbook/pgrunbook/internal/incident"
	"github.com/pgrunbook/pgrunbook/internal/pg/pgtest"
	"github.com/pgrunbook/pgrunbook/internal/transcript"
)

// startWatch starts `pgrunbook watch` with its output captured.
func startWatch(t *testing.T, dir string, args ...string) (*exec.Cmd, *bytes.Buffer) {
	t.Helper()
	cmd := exec.Command(binary, append([]string{"watch"}, args...)...)
	cmd.Dir = dir
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + dir}
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
		}
	})
	return cmd, &out
}

// exitOf waits for cmd and returns its exit code.
func exitOf(t *testing.T, cmd *exec.Cmd) int {
	t.Helper()
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(60 * time.Second):
		_ = cmd.Process.Kill()
		<-done
		t.Fatal("the watch did not end within 60s")
	}
	return cmd.ProcessState.ExitCode()
}

// roundFiles lists a watch's round transcripts in order.
func roundFiles(t *testing.T, dir string) []string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(dir, "round-*.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	return files
}

// awaitFile polls until path exists, for at most 20 seconds.
func awaitFile(t *testing.T, path string) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		if _, err := os.Stat(path); err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s never appeared", path)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// awaitGone polls until the session's connection is dead, for at most 20s.
func awaitGone(t *testing.T, s *incident.Session, failure string) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for s.Alive(context.Background()) {
		if time.Now().After(deadline) {
			t.Fatal(failure)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestWatchDryRunSignalsNothingOnOneBackend: a dry-run watch of several
// rounds next to a long statement signals nothing, runs every round on the
// same backend (seen from outside in pg_stat_activity, not only in what
// pgrunbook records), and each round's transcript replays and verifies.
func TestWatchDryRunSignalsNothingOnOneBackend(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := pgtest.CreateDatabase(t, "watchdry")
	dsn := pgtest.DSNFor(db)
	long, err := incident.LongQuery(ctx, dsn, "watch-report", time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(long.Close)
	dir := t.TempDir()
	tdir := filepath.Join(dir, "rounds")
	cmd, out := startWatch(t, dir, "cancel-long-queries", "-d", dsn, "--every", "200ms", "--rounds", "6",
		"--set", "min_runtime=0s", "--set", "database="+db, "--transcript-dir", tdir)

	// Watch pgrunbook's backends in the database while the rounds run, from
	// the default database: a poller inside the watched one would itself be
	// a statement the playbook (min_runtime 0s) could catch mid-query.
	ctl := pgtest.Connect(t)
	backends := map[string]bool{}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	deadline := time.After(60 * time.Second)
poll:
	for {
		select {
		case <-done:
			break poll
		case <-deadline:
			_ = cmd.Process.Kill()
			<-done
			t.Fatal("the watch did not end within 60s")
		case <-time.After(30 * time.Millisecond):
		}
		rows, err := ctl.Query(ctx, `SELECT pid || '@' || backend_start FROM pg_stat_activity
			WHERE application_name = 'pgrunbook' AND datname = $1`, db)
		if err != nil {
			t.Fatal(err)
		}
		for rows.Next() {
			var id string
			if err := rows.Scan(&id); err != nil {
				t.Fatal(err)
			}
			backends[id] = true
		}
		rows.Close()
	}
	if code := cmd.ProcessState.ExitCode(); code != 0 {
		t.Fatalf("exit %d\n%s", code, out)
	}
	if len(backends) != 1 {
		t.Errorf("pgrunbook used %d backends over the watch, want 1: %v", len(backends), backends)
	}
	files := roundFiles(t, tdir)
	if len(files) != 6 {
		t.Fatalf("%d round transcripts, want 6 (quiet rounds are not pruned at this count)", len(files))
	}
	pids := map[int]bool{}
	for _, f := range files {
		evs := readEvents(t, f)
		if evs[0].Type != transcript.RunStarted || evs[0].Mode != transcript.ModeDryRun {
			t.Fatalf("%s starts with %s mode %q", f, evs[0].Type, evs[0].Mode)
		}
		if op := evs[0].Operator; op == nil || op.OSUser == "" || evs[0].Provenance == nil {
			t.Errorf("%s: run_started records operator %+v and provenance %+v, want both, as run does", f, op, evs[0].Provenance)
		}
		pids[evs[0].Server.BackendPID] = true
		var cancels int
		for _, ev := range evs {
			if ev.Type == transcript.Action {
				if ev.Function == "pg_cancel_backend" {
					cancels++
				}
				if ev.Outcome != "dry_run" || ev.PID != long.PID {
					t.Errorf("%s: action %s on pid %d, outcome %s", f, ev.Function, ev.PID, ev.Outcome)
				}
			}
		}
		if cancels != 1 {
			t.Errorf("%s: %d would-be cancels, want the cancel of pid %d", f, cancels, long.PID)
		}
		checkFinished(t, evs, "done", 0)
	}
	if len(pids) != 1 {
		t.Errorf("rounds recorded %d backend pids, want 1", len(pids))
	}
	checkRunning(t, long)
	// The screen shows the target once, when it is new, not every round.
	if n := strings.Count(out.String(), " target(s)"); n != 1 {
		t.Errorf("%d rounds reported on the screen, want 1 (only the first changed anything):\n%s", n, out)
	}
	if !strings.Contains(out.String(), fmt.Sprintf("pg_cancel_backend pid %d: dry_run", long.PID)) {
		t.Errorf("the screen does not show the would-be cancel:\n%s", out)
	}
	r := pgrunbook(t, dir, nil, "replay", files[2])
	if r.code != 0 || !strings.Contains(r.stdout, "cancel-long-queries") || !strings.Contains(r.stdout, fmt.Sprint(long.PID)) {
		t.Errorf("replay of round 3: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	if r := pgrunbook(t, dir, nil, "replay", "--verify", files[5]); r.code != 0 || !strings.Contains(r.stdout, "hash chain intact") {
		t.Errorf("replay --verify of round 6: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
}

// TestWatchYesEndsASessionThatGoesIdleInTransaction: a guard watch finds
// nothing, then a session goes idle in a transaction between two rounds,
// and a later round terminates it.
func TestWatchYesEndsASessionThatGoesIdleInTransaction(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := pgtest.CreateDatabase(t, "watchyes")
	dsn := pgtest.DSNFor(db)
	if err := incident.CreateLockTable(ctx, dsn, "accounts", 1); err != nil {
		t.Fatal(err)
	}
	bystander, err := incident.Idle(ctx, dsn, "watch-bystander")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(bystander.Close)
	dir := t.TempDir()
	tdir := filepath.Join(dir, "rounds")
	cmd, out := startWatch(t, dir, "terminate-idle-in-transaction", "--yes", "-d", dsn, "--every", "200ms",
		"--set", "min_idle=0s", "--set", "database="+db, "--transcript-dir", tdir)
	awaitFile(t, filepath.Join(tdir, "round-000002.jsonl"))
	// The watch is stopped while the session is staged: a round may come
	// every 200ms and end it before the staging helper has seen it idle
	// in its transaction.
	if err := cmd.Process.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	forgotten, err := incident.IdleInTransaction(ctx, dsn, "watch-forgotten", "accounts", 1)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(forgotten.Close)
	if err := cmd.Process.Signal(syscall.SIGCONT); err != nil {
		t.Fatal(err)
	}
	awaitGone(t, forgotten, "the watch never ended the session idle in transaction")
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if code := exitOf(t, cmd); code != 130 {
		t.Fatalf("exit %d after SIGTERM, want 130\n%s", code, out)
	}
	checkNoActions(t, readEvents(t, filepath.Join(tdir, "round-000001.jsonl")))
	var terminated []string
	for _, f := range roundFiles(t, tdir) {
		for _, ev := range readEvents(t, f) {
			if ev.Type == transcript.Action {
				if ev.PID != forgotten.PID || ev.Function != "pg_terminate_backend" {
					t.Errorf("%s: %s of pid %d; only pid %d may be signalled", f, ev.Function, ev.PID, forgotten.PID)
				}
				if ev.Outcome == "signalled" {
					terminated = append(terminated, filepath.Base(f))
				}
			}
		}
	}
	if len(terminated) != 1 {
		t.Errorf("terminated in %v, want exactly one round", terminated)
	}
	checkBystander(t, bystander)
	if !strings.Contains(out.String(), fmt.Sprintf("pg_terminate_backend pid %d: signalled", forgotten.PID)) ||
		!strings.Contains(out.String(), "watch stopped (SIGTERM)") {
		t.Errorf("the screen does not show the terminate and the stop:\n%s", out)
	}
}

// TestWatchCircuitBreakerStopsBeforeExceeding: with --max-signals 2, a
// watch ends one session, then finds two more in one round: signalling
// them would make three within the window, so nothing is sent, and the
// watch stops with exit 1 and says why.
func TestWatchCircuitBreakerStopsBeforeExceeding(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := pgtest.CreateDatabase(t, "watchbreaker")
	dsn := pgtest.DSNFor(db)
	if err := incident.CreateLockTable(ctx, dsn, "accounts", 3); err != nil {
		t.Fatal(err)
	}
	first, err := incident.IdleInTransaction(ctx, dsn, "watch-first", "accounts", 1)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(first.Close)
	dir := t.TempDir()
	tdir := filepath.Join(dir, "rounds")
	cmd, out := startWatch(t, dir, "terminate-idle-in-transaction", "--yes", "-d", dsn, "--every", "200ms",
		"--max-signals", "2", "--per", "1h",
		"--set", "min_idle=0s", "--set", "database="+db, "--transcript-dir", tdir)
	awaitGone(t, first, "the watch never ended the first session")
	// The two later sessions must appear in the same round: the watch is
	// stopped while they are staged (a round already past its snapshot
	// sees neither, the next one both).
	if err := cmd.Process.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	var later []*incident.Session
	for id := 2; id <= 3; id++ {
		s, err := incident.IdleInTransaction(ctx, dsn, fmt.Sprintf("watch-later-%d", id), "accounts", id)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(s.Close)
		later = append(later, s)
	}
	if err := cmd.Process.Signal(syscall.SIGCONT); err != nil {
		t.Fatal(err)
	}
	if code := exitOf(t, cmd); code != 1 {
		t.Fatalf("exit %d, want 1 from the circuit breaker\n%s", code, out)
	}
	if !strings.Contains(out.String(), "circuit breaker: signalling 2 more session(s) would make 3 within 1h0m0s, more than --max-signals 2") {
		t.Errorf("the message does not explain the stop:\n%s", out)
	}
	for _, s := range later {
		if !s.Alive(ctx) {
			t.Errorf("pid %d was ended although the breaker had tripped", s.PID)
		}
	}
	signalled := 0
	files := roundFiles(t, tdir)
	for _, f := range files {
		for _, ev := range readEvents(t, f) {
			if ev.Type == transcript.Action && ev.Outcome == "signalled" {
				signalled++
			}
		}
	}
	if signalled != 1 {
		t.Errorf("%d sessions signalled over the watch, want 1 (at most the limit of 2)", signalled)
	}
	last := readEvents(t, files[len(files)-1])
	for _, ev := range last {
		if ev.Type == transcript.Intent || ev.Type == transcript.Action {
			t.Errorf("the round that tripped recorded %s for %v", ev.Type, ev.Targets)
		}
	}
	end := last[len(last)-1]
	if end.Type != transcript.RunFinished || end.Outcome != "refused" || !strings.Contains(end.Message, "circuit breaker") {
		t.Errorf("the last round ended %s/%s %q, want refused by the circuit breaker", end.Type, end.Outcome, end.Message)
	}
}

// TestWatchSIGTERMMidRoundRecordsTheRound: SIGTERM while a round's verify
// polls ends the watch with exit 130 and a round transcript that says it
// was terminated; the watch goes on to nothing more.
func TestWatchSIGTERMMidRoundRecordsTheRound(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := pgtest.CreateDatabase(t, "watchterm")
	dsn := pgtest.DSNFor(db)
	stubborn, err := incident.StubbornQuery(ctx, dsn, "watch-etl", time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(stubborn.Close)
	dir := t.TempDir()
	tdir := filepath.Join(dir, "rounds")
	cmd, out := startWatch(t, dir, "cancel-long-queries", "--yes", "-d", dsn, "--every", "1s",
		"--set", "min_runtime=0s", "--set", "database="+db, "--transcript-dir", tdir)
	round1 := filepath.Join(tdir, "round-000001.jsonl")
	awaitFile(t, round1)
	// The cancel is ignored, so the verify polls for seconds: stop it then.
	awaitInTranscript(t, round1, `"type":"action"`, "the first round never reached its cancel")
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if code := exitOf(t, cmd); code != 130 {
		t.Fatalf("exit %d, want 130\n%s", code, out)
	}
	if files := roundFiles(t, tdir); len(files) != 1 {
		t.Errorf("%d round transcripts, want 1: the watch must not start another round", len(files))
	}
	evs := readEvents(t, round1)
	checkFinished(t, evs, "interrupted", 130)
	if last := evs[len(evs)-1]; last.Message != "terminated (SIGTERM)" {
		t.Errorf("the round ended %q, want terminated (SIGTERM)", last.Message)
	}
	for _, ev := range evs {
		if ev.Type == transcript.Action && ev.Function == "pg_terminate_backend" {
			t.Error("the interrupted round went on to terminate")
		}
	}
	if r := pgrunbook(t, dir, nil, "replay", round1); r.code != 0 || !strings.Contains(r.stdout, "terminated (SIGTERM)") {
		t.Errorf("replay: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
}
