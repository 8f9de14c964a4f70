package main

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/pgrunbook/pgrunbook/internal/incident"
	"github.com/pgrunbook/pgrunbook/internal/pg"
	"github.com/pgrunbook/pgrunbook/internal/pg/pgtest"
	"github.com/pgrunbook/pgrunbook/internal/transcript"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

// minRuntime is the tests' -min-runtime: the staged statements are
// waited for until they are older.
const minRuntime = 200 * time.Millisecond

// staged is one test's sessions: long statements of its application,
// one idle session of it, and a long statement of another application.
type staged struct {
	dsn, app string
	long     []*incident.Session
	idle     *incident.Session
	other    *incident.Session
}

func stage(t *testing.T, long int) staged {
	t.Helper()
	ctx := pgtest.Context(t)
	name := pgtest.CreateDatabase(t, "floor")
	st := staged{dsn: pgtest.DSNFor(name), app: name}
	keep := pgtest.Staged[*incident.Session](t)
	var pids []int
	for range long {
		s := keep(incident.LongQuery(ctx, st.dsn, st.app, 2*time.Minute))
		st.long = append(st.long, s)
		pids = append(pids, s.PID)
	}
	st.idle = keep(incident.Idle(ctx, st.dsn, st.app))
	st.other = keep(incident.LongQuery(ctx, st.dsn, st.app+"-other", 2*time.Minute))
	pgtest.AwaitQueryRuntime(t, ctx, st.dsn, minRuntime, append(pids, st.other.PID)...)
	return st
}

func (st staged) options(t *testing.T, maxTargets int) options {
	return options{dsn: st.dsn, transcript: filepath.Join(t.TempDir(), "floor.jsonl"), app: st.app,
		minRuntime: minRuntime, maxTargets: maxTargets}
}

// stillRunning fails the test if s's statement has ended.
func stillRunning(t *testing.T, s *incident.Session, what string) {
	t.Helper()
	select {
	case <-s.Done():
		t.Errorf("%s (pid %d) ended: %v", what, s.PID, s.Err())
	default:
	}
}

// events reads a transcript and groups its events by type.
func events(t *testing.T, path string) map[string][]transcript.Event {
	t.Helper()
	rr, err := transcript.ReadFile(path)
	if err != nil {
		t.Fatalf("reading the transcript: %v", err)
	}
	by := make(map[string][]transcript.Event)
	for _, ev := range rr.Events {
		by[ev.Type] = append(by[ev.Type], ev)
	}
	return by
}

// TestFloorCancelsTheLongStatementsOfItsApplicationAndVerifies: the two
// long statements of the application are cancelled and verified; its
// idle session and the other application's long statement (the trap: as
// old, as active, but not this run's) are not signalled.
func TestFloorCancelsTheLongStatementsOfItsApplicationAndVerifies(t *testing.T) {
	st := stage(t, 2)
	o := st.options(t, 10)
	if err := run(pgtest.Context(t), o); err != nil {
		t.Fatalf("run: %v", err)
	}
	for _, s := range st.long {
		pgtest.WaitDone(t, s, "a long statement")
		if code := pg.SQLState(s.Err()); code != "57014" {
			t.Errorf("pid %d's statement ended with %v (SQLSTATE %q), want query_canceled", s.PID, s.Err(), code)
		}
	}
	ctx := pgtest.Context(t)
	if !st.idle.Alive(ctx) {
		t.Errorf("the idle session of the application (pid %d) is gone", st.idle.PID)
	}
	stillRunning(t, st.other, "the other application's statement")

	by := events(t, o.transcript)
	var signalled []int
	for _, ev := range by[transcript.Action] {
		if ev.Outcome == "signalled" {
			signalled = append(signalled, ev.PID)
		}
	}
	slices.Sort(signalled)
	want := []int{st.long[0].PID, st.long[1].PID}
	slices.Sort(want)
	if !slices.Equal(signalled, want) {
		t.Errorf("signalled %v, want the long statements %v", signalled, want)
	}
	if n := len(by[transcript.Intent]); n != 1 || len(by[transcript.Intent][0].Targets) != 2 {
		t.Errorf("intents %+v, want one naming the two targets", by[transcript.Intent])
	}
	if snaps := by[transcript.Snapshot]; len(snaps) != 1 || len(snaps[0].Rows) == 0 {
		t.Errorf("want one snapshot event with every row, got %d events", len(snaps))
	}
	v := by[transcript.Verified]
	if len(v) != 1 || v[0].Polls < 1 || len(v[0].Failed) > 0 || v[0].TimedOut {
		t.Errorf("verified events %+v, want one that passed after at least one poll", v)
	}
	if f := by[transcript.RunFinished]; len(f) != 1 || f[0].Outcome != "done" {
		t.Errorf("run_finished %+v, want done", f)
	}
}

// TestFloorBelowTheRulesRecordsNoRowsAndDoesNotVerify: the same cancel,
// with an empty snapshot event and no verified event.
func TestFloorBelowTheRulesRecordsNoRowsAndDoesNotVerify(t *testing.T) {
	st := stage(t, 1)
	o := st.options(t, 10)
	o.belowRules = true
	if err := run(pgtest.Context(t), o); err != nil {
		t.Fatalf("run: %v", err)
	}
	pgtest.WaitDone(t, st.long[0], "the long statement")
	by := events(t, o.transcript)
	if snaps := by[transcript.Snapshot]; len(snaps) != 1 || len(snaps[0].Rows) != 0 {
		t.Errorf("want one snapshot event without rows, got %+v", snaps)
	}
	if v := by[transcript.Verified]; len(v) != 0 {
		t.Errorf("verified events %+v, want none", v)
	}
	if a := by[transcript.Action]; len(a) != 1 || a[0].Outcome != "signalled" {
		t.Errorf("actions %+v, want one signalled", a)
	}
}

// TestFloorRefusesMoreTargetsThanItsLimit: two targets against a limit of
// one signal nothing, and the transcript has no intent.
func TestFloorRefusesMoreTargetsThanItsLimit(t *testing.T) {
	st := stage(t, 2)
	o := st.options(t, 1)
	err := run(pgtest.Context(t), o)
	if err == nil || !strings.Contains(err.Error(), "more than -max-targets 1") {
		t.Fatalf("run: %v, want a refusal naming the limit", err)
	}
	for _, s := range st.long {
		stillRunning(t, s, "a long statement")
	}
	by := events(t, o.transcript)
	if len(by[transcript.Intent]) != 0 || len(by[transcript.Action]) != 0 {
		t.Errorf("intent %+v and actions %+v, want none", by[transcript.Intent], by[transcript.Action])
	}
}
