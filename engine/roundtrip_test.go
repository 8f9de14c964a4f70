package engine_test

// Round trips per step. A step costs a fixed number of statements,
// whatever the number of its targets:
//
//	activity             1 statement (Database.Snapshot); none for the run's
//	                       first snapshot, which pg.Connect read with its
//	                       set-up statement (pg.Options.FirstSnapshot)
//	filter, note,        0
//	  wait for
//	confirm              0 (1 Snapshot only when an interactive answer came
//	                       after StaleAfter and the sessions are re-read)
//	cancel, terminate    1 statement (Database.Signal) for all N targets, and
//	                       the block that writes their server log lines in
//	                       the same round trip; only
//	                       if the server refuses the batch with SQLSTATE 42501
//	                       that the statement did not predict, 1 more per target
//	verify, wait until   1 statement (Database.Snapshot) per poll; a verify
//	                       with a built-in expectation reads only its
//	                       pending targets' rows and those of the sessions
//	                       in lock chains (TargetReader.SnapshotOf)
//
// On the wire a statement is one Execute and one Sync: one round trip,
// also the first time a connection runs it, when the same round trip
// prepares it (Parse and Describe go with the Bind and Execute); later
// uses send no Parse, so the server plans each statement once per
// connection. pg.Connect's own set-up statement belongs to no step and
// costs one round trip, which also carries the first snapshot.
//
// The tests below count twice, with two techniques that do not depend on
// each other: a decorator around the real *pg.Client counts the engine's
// calls per step, and a proxy between the client and the server counts the
// protocol messages that cross the wire during each call, so a statement
// sent outside Snapshot and Signal, or a call that sends more than one
// statement, is seen.

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pgrunbook/pgrunbook/engine"
	"github.com/pgrunbook/pgrunbook/internal/activity"
	"github.com/pgrunbook/pgrunbook/internal/incident"
	"github.com/pgrunbook/pgrunbook/internal/pg"
	"github.com/pgrunbook/pgrunbook/internal/pg/pgtest"
	"github.com/pgrunbook/pgrunbook/internal/playbook"
	"github.com/pgrunbook/pgrunbook/internal/transcript"
)

// roundTripCancel cancels the statements of one application and verifies
// that they stopped; roundTripTerminate ends its sessions and verifies
// that they are gone.
const (
	roundTripCancel = `name: round-trips-cancel
summary: Cancel the statements of one application, then verify they stopped.
params:
  app: {type: string}
steps:
  - id: snapshot
    activity:
  - id: targets
    filter:
      where: application_name == params.app && state == "active"
  - id: cancel
    cancel: {targets: targets, max_targets: 10}
  - id: stopped
    verify: {targets: targets, expect: query_stopped, timeout: 10s}
`
	roundTripTerminate = `name: round-trips-terminate
summary: Terminate the sessions of one application, then verify they are gone.
params:
  app: {type: string}
steps:
  - id: snapshot
    activity:
  - id: targets
    filter:
      where: application_name == params.app
  - id: terminate
    terminate: {targets: targets, max_targets: 10}
  - id: gone
    verify: {targets: targets, expect: gone, timeout: 10s}
`
)

func TestRoundTripsOfACancelStepDoNotGrowWithItsTargets(t *testing.T) {
	t.Parallel()
	pb := parsePlaybook(t, roundTripCancel)
	var cancelWire []wireCount
	for _, n := range []int{1, 10} {
		db := pgtest.CreateDatabase(t, fmt.Sprintf("roundtrips_cancel_%d", n))
		app := "rt-" + db
		stage := pgtest.Staged[*incident.Session](t)
		var longs []*incident.Session
		for i := 0; i < n; i++ {
			longs = append(longs, stage(incident.LongQuery(context.Background(), pgtest.DSNFor(db), app, time.Minute)))
		}

		cr := runCounted(t, pb, "app="+app)

		if cr.res.ExitCode != engine.ExitOK {
			t.Fatalf("%d targets: exit %d (%s), want 0", n, cr.res.ExitCode, cr.res.Message)
		}
		for _, l := range longs {
			pgtest.WaitDone(t, l, "cancelled statement")
			if pg.SQLState(l.Err()) != "57014" {
				t.Errorf("%d targets: pid %d ended with %v, want query_canceled", n, l.PID, l.Err())
			}
		}
		cr.wantCalls(t, "snapshot", "Snapshot", 1)
		cr.wantCalls(t, "targets", "", 0)
		sig := cr.wantCalls(t, "cancel", "Signal", 1)
		if len(sig) == 1 && sig[0].targets != n {
			t.Errorf("%d targets: Signal was given %d targets, want %d", n, sig[0].targets, n)
		}
		cr.wantVerifyPolls(t, "stopped")
		cr.wantOneStatementPerCall(t)
		cr.wantNothingElseOnTheWire(t)
		cr.wantActionsInOneBatch(t, "cancel", n)
		if len(sig) == 1 {
			cancelWire = append(cancelWire, sig[0].wire)
		}
		if t.Failed() || testing.Verbose() {
			t.Logf("%d targets:\n%s", n, cr.table())
		}
	}
	if len(cancelWire) == 2 && cancelWire[0] != cancelWire[1] {
		t.Errorf("the cancel step's wire traffic depends on its targets: 1 target %+v, 10 targets %+v", cancelWire[0], cancelWire[1])
	}
}

func TestRoundTripsOfATerminateStep(t *testing.T) {
	t.Parallel()
	pb := parsePlaybook(t, roundTripTerminate)
	const n = 10
	db := pgtest.CreateDatabase(t, "roundtrips_terminate")
	app := "rt-" + db
	stage := pgtest.Staged[*incident.Session](t)
	for i := 0; i < n; i++ {
		stage(incident.Idle(context.Background(), pgtest.DSNFor(db), app))
	}

	cr := runCounted(t, pb, "app="+app)

	if cr.res.ExitCode != engine.ExitOK {
		t.Fatalf("exit %d (%s), want 0", cr.res.ExitCode, cr.res.Message)
	}
	if got := len(cr.verified(t, "gone").Passed); got != n {
		t.Errorf("verify gone passed %d sessions, want %d", got, n)
	}
	cr.wantCalls(t, "snapshot", "Snapshot", 1)
	sig := cr.wantCalls(t, "terminate", "Signal", 1)
	if len(sig) == 1 && sig[0].targets != n {
		t.Errorf("Signal was given %d targets, want %d", sig[0].targets, n)
	}
	cr.wantVerifyPolls(t, "gone")
	cr.wantOneStatementPerCall(t)
	cr.wantNothingElseOnTheWire(t)
	if t.Failed() || testing.Verbose() {
		t.Logf("\n%s", cr.table())
	}
}

// roundTripLocks cancels the writers of one application that wait on a
// row lock, found by the lock facts (read from pg_locks in the same
// statement as the rest of the snapshot).
const roundTripLocks = `name: round-trips-locks
summary: Cancel the writers that wait on a row lock, found by their lock facts.
params:
  app: {type: string}
steps:
  - id: snapshot
    activity:
  - id: waiters
    filter:
      where: application_name == params.app && wait_lock_mode != "" && len(hard_blocked_by) > 0
  - id: cancel
    cancel: {targets: waiters, max_targets: 10}
  - id: stopped
    verify: {targets: waiters, expect: query_stopped, timeout: 10s}
`

// A snapshot with lock facts, while sessions wait on locks, is still one
// statement in one round trip.
func TestRoundTripsOfASnapshotWithLockFacts(t *testing.T) {
	t.Parallel()
	pb := parsePlaybook(t, roundTripLocks)
	db := pgtest.CreateDatabase(t, "roundtrips_locks")
	dsn := pgtest.DSNFor(db)
	app := "rt-" + db
	if err := incident.CreateLockTable(context.Background(), dsn, "rows", 1); err != nil {
		t.Fatal(err)
	}
	stage := pgtest.Staged[*incident.Session](t)
	stage(incident.IdleInTransaction(context.Background(), dsn, app+"-holder", "rows", 1))
	const n = 3
	var writers []*incident.Session
	for i := 0; i < n; i++ {
		writers = append(writers, stage(incident.Writer(context.Background(), dsn, app, "rows", 1)))
	}

	cr := runCounted(t, pb, "app="+app)

	if cr.res.ExitCode != engine.ExitOK {
		t.Fatalf("exit %d (%s), want 0", cr.res.ExitCode, cr.res.Message)
	}
	for _, w := range writers {
		pgtest.WaitDone(t, w, "cancelled writer")
		if pg.SQLState(w.Err()) != "57014" {
			t.Errorf("writer %d ended with %v, want query_canceled", w.PID, w.Err())
		}
	}
	var snap *transcript.Event
	for i := range cr.events {
		if cr.events[i].Type == transcript.Snapshot && cr.events[i].Step == "snapshot" {
			snap = &cr.events[i]
		}
	}
	if snap == nil {
		t.Fatal("no snapshot event")
	}
	withFacts := 0
	for _, r := range snap.Rows {
		if r.ApplicationName == app && r.WaitLockMode != "" && len(r.HardBlockedBy) > 0 {
			withFacts++
		}
	}
	if withFacts != n {
		t.Errorf("the snapshot shows lock facts for %d of the %d waiting writers", withFacts, n)
	}
	cr.wantCalls(t, "snapshot", "Snapshot", 1)
	sig := cr.wantCalls(t, "cancel", "Signal", 1)
	if len(sig) == 1 && sig[0].targets != n {
		t.Errorf("Signal was given %d targets, want the %d waiting writers", sig[0].targets, n)
	}
	cr.wantVerifyPolls(t, "stopped")
	cr.wantOneStatementPerCall(t)
	cr.wantNothingElseOnTheWire(t)
	if t.Failed() || testing.Verbose() {
		t.Logf("\n%s", cr.table())
	}
}

func parsePlaybook(t *testing.T, src string) *playbook.Playbook {
	t.Helper()
	pb, err := playbook.Parse("roundtrips.yaml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	return pb
}

// countedRun is a run through the counting decorator and the wire proxy.
type countedRun struct {
	res    engine.Result
	events []transcript.Event
	calls  []dbCall
	// outside is the wire traffic between the connection being ready and
	// the run's end that no Snapshot or Signal call sent.
	outside wireCount
	// batches are the sizes of the batches the display was given, in order.
	batches []int
}

// wantActionsInOneBatch checks that the display was given step's n action
// events, the outcomes of one signalling statement, in one batch.
func (cr countedRun) wantActionsInOneBatch(t *testing.T, step string, n int) {
	t.Helper()
	at := 0
	for _, size := range cr.batches {
		actions := 0
		for _, ev := range cr.events[at : at+size] {
			if ev.Type == transcript.Action && ev.Step == step {
				actions++
			}
		}
		if actions > 0 {
			if actions != n {
				t.Errorf("step %s: a batch of %d events carried %d of its %d action events, want all", step, size, actions, n)
			}
			return
		}
		at += size
	}
	t.Errorf("step %s: no batch carried its action events", step)
}

// runCounted runs pb in --yes mode on a client connected through a wire
// proxy and wrapped in a counting decorator. Its display takes batches
// (Options.ShowBatch), and the run keeps the size of each.
func runCounted(t *testing.T, pb *playbook.Playbook, sets ...string) countedRun {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	vals, err := pb.Resolve(sets)
	if err != nil {
		t.Fatal(err)
	}
	wire := startWireCounter(t, pgtest.DSN())
	client, err := pg.Connect(ctx, pg.Options{DSN: wire.dsn, FirstSnapshot: true})
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close(ctx)
	tw, err := transcript.Create(filepath.Join(t.TempDir(), "run.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	defer tw.Close()
	db := &countingDB{Client: client, wire: wire}
	var cr countedRun
	ready := wire.count()
	if ready.statements() != 2 || ready.roundTrips() != 1 {
		t.Errorf("pg.Connect sent %d statements in %d round trips (%+v), want the set-up statement and the first snapshot in 1", ready.statements(), ready.roundTrips(), ready)
	}
	cr.res, err = engine.Run(ctx, engine.Options{
		Playbook: pb, Params: vals, DB: db, Mode: engine.Yes, Transcript: tw,
		ShowBatch: func(evs []transcript.Event) {
			cr.events = append(cr.events, evs...)
			cr.batches = append(cr.batches, len(evs))
			for _, ev := range evs {
				if ev.Type == transcript.StepStarted {
					db.setStep(ev.Step)
				}
			}
		},
		Server: transcript.Server{BackendPID: client.Info().PID},
	})
	if err != nil {
		t.Fatal(err)
	}
	cr.calls = db.recorded()
	cr.outside = wire.count().minus(ready)
	for _, c := range cr.calls {
		cr.outside = cr.outside.minus(c.wire)
	}
	return cr
}

// wantCalls checks that step made want calls of method (any method when
// "") and returns them.
func (cr countedRun) wantCalls(t *testing.T, step, method string, want int) []dbCall {
	t.Helper()
	var got []dbCall
	for _, c := range cr.calls {
		if c.step == step && (method == "" || c.method == method) {
			got = append(got, c)
		}
	}
	if len(got) != want {
		what := method
		if what == "" {
			what = "database"
		}
		t.Errorf("step %s made %d %s calls, want %d", step, len(got), what, want)
	}
	return got
}

// wantVerifyPolls checks that a verify step made one Snapshot call per
// poll it reports, and nothing else.
func (cr countedRun) wantVerifyPolls(t *testing.T, step string) {
	t.Helper()
	v := cr.verified(t, step)
	if v.Polls < 1 {
		t.Errorf("verify %s reports %d polls", step, v.Polls)
	}
	// A built-in expectation reads only its pending targets' rows.
	method := "Snapshot"
	if v.Expect == playbook.ExpectGone || v.Expect == playbook.ExpectQueryStopped {
		method = "SnapshotOf"
	}
	cr.wantCalls(t, step, method, v.Polls)
	cr.wantCalls(t, step, "", v.Polls)
}

// wantOneStatementPerCall checks that every call put exactly one statement
// on the wire in exactly one round trip, also the first use of a statement
// on the connection, and that only the first use parses it.
//
// The run's first Snapshot sends nothing: pg.Connect read it with its
// set-up statement. A Signal sends a second statement in the same round
// trip, the fixed block that writes the server log lines of its signals
// (internal/pg's audit.go), unnamed, so parsed every time: two statements
// in one round trip, however many targets.
func (cr countedRun) wantOneStatementPerCall(t *testing.T) {
	t.Helper()
	used := map[string]bool{}
	firstSnapshot := true
	for _, c := range cr.calls {
		statements, roundTrips, parses := 1, 1, 0
		switch {
		case c.method == "Snapshot" && firstSnapshot:
			firstSnapshot = false
			statements, roundTrips = 0, 0
		case c.method == "Signal":
			statements, parses = 2, 1
		}
		if statements > 0 && !used[c.method] {
			parses++
			used[c.method] = true
		}
		if c.wire.statements() != statements || c.wire.roundTrips() != roundTrips || c.wire.Parse != parses {
			t.Errorf("step %s: %s sent %d statements in %d round trips with %d Parse (%+v), want %d statement(s) in %d round trip(s) with %d Parse",
				c.step, c.method, c.wire.statements(), c.wire.roundTrips(), c.wire.Parse, c.wire, statements, roundTrips, parses)
		}
	}
}

// wantNothingElseOnTheWire checks that every message the client sent
// during the run belongs to a Snapshot or Signal call.
func (cr countedRun) wantNothingElseOnTheWire(t *testing.T) {
	t.Helper()
	if cr.outside != (wireCount{}) {
		t.Errorf("messages sent outside Snapshot and Signal: %+v", cr.outside)
	}
}

func (cr countedRun) verified(t *testing.T, step string) transcript.Event {
	t.Helper()
	for _, ev := range cr.events {
		if ev.Type == transcript.Verified && ev.Step == step {
			return ev
		}
	}
	t.Fatalf("no verified event for step %s", step)
	return transcript.Event{}
}

// table lists the calls for a failure message.
func (cr countedRun) table() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%-10s %-9s %7s %10s %11s\n", "step", "call", "targets", "statements", "round trips")
	for _, c := range cr.calls {
		fmt.Fprintf(&b, "%-10s %-9s %7d %10d %11d\n", c.step, c.method, c.targets, c.wire.statements(), c.wire.roundTrips())
	}
	return b.String()
}

// countingDB is the engine's Database: the real client, with every call
// recorded with the step it belongs to and the wire traffic it caused.
// Embedding the client keeps its other methods (reconnecting) visible to
// the engine.
type countingDB struct {
	*pg.Client
	wire *wireCounter

	mu    sync.Mutex
	step  string
	calls []dbCall
}

// dbCall is one call of the engine into its Database.
type dbCall struct {
	step    string
	method  string
	targets int
	// signalled counts a Signal's targets that were signalled.
	signalled int
	wire      wireCount
}

func (d *countingDB) setStep(step string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.step = step
}

func (d *countingDB) record(method string, targets int, before wireCount) {
	d.recordSignalled(method, targets, 0, before)
}

func (d *countingDB) recordSignalled(method string, targets, signalled int, before wireCount) {
	after := d.wire.count()
	d.mu.Lock()
	defer d.mu.Unlock()
	d.calls = append(d.calls, dbCall{step: d.step, method: method, targets: targets, signalled: signalled, wire: after.minus(before)})
}

func (d *countingDB) recorded() []dbCall {
	d.mu.Lock()
	defer d.mu.Unlock()
	return append([]dbCall(nil), d.calls...)
}

func (d *countingDB) Snapshot(ctx context.Context) (*activity.Snapshot, error) {
	before := d.wire.count()
	defer d.record("Snapshot", 0, before)
	return d.Client.Snapshot(ctx)
}

func (d *countingDB) SnapshotOf(ctx context.Context, pids []int) (*activity.Snapshot, error) {
	before := d.wire.count()
	defer d.record("SnapshotOf", len(pids), before)
	return d.Client.SnapshotOf(ctx, pids)
}

func (d *countingDB) Signal(ctx context.Context, fn activity.Function, targets []activity.SignalTarget, backendTypes []string) ([]activity.SignalResult, error) {
	before := d.wire.count()
	res, err := d.Client.Signal(ctx, fn, targets, backendTypes)
	signalled := 0
	for _, r := range res {
		if r.Outcome == activity.Signalled {
			signalled++
		}
	}
	d.recordSignalled("Signal", len(targets), signalled, before)
	return res, err
}

func (d *countingDB) Horizon(ctx context.Context) (*activity.Horizon, error) {
	before := d.wire.count()
	defer d.record("Horizon", 0, before)
	return d.Client.Horizon(ctx)
}

var (
	_ engine.Database     = (*countingDB)(nil)
	_ engine.TargetReader = (*countingDB)(nil)
)

const roundTripFailedVerify = `name: round-trips-failed-verify
summary: Verify that a lock holder nobody signalled is gone; it is not.
params:
  app: {type: string}
steps:
  - id: snapshot
    activity:
  - id: holder
    filter:
      where: application_name == params.app
  - id: gone
    verify: {targets: holder, expect: gone, timeout: 100ms}
  - id: still_blocking
    filter:
      from: gone.failed
      where: blocking_total == 2
  - id: stopped
    verify: {targets: holder, expect: query_stopped, timeout: 1s}
  - id: passed_blocking
    filter:
      from: stopped.passed
      where: blocking_total == 2 && is_root_blocker
`

// TestVerifyReadsItsTargetsAndHandsOnFullRows: a verify with a built-in
// expectation polls only its targets' rows and those of the sessions in
// lock chains, so that later steps see the session as the whole server
// shows it: here a failed lock holder with two writers queued behind it,
// which a snapshot of the holder's row alone would count as blocking
// none.
func TestVerifyReadsItsTargetsAndHandsOnFullRows(t *testing.T) {
	t.Parallel()
	pb := parsePlaybook(t, roundTripFailedVerify)
	db := pgtest.CreateDatabase(t, "roundtrips_failed_verify")
	dsn := pgtest.DSNFor(db)
	ctx := context.Background()
	if err := incident.CreateLockTable(ctx, dsn, "locks", 1); err != nil {
		t.Fatal(err)
	}
	app := "rt-" + db
	stage := pgtest.Staged[*incident.Session](t)
	holder := stage(incident.IdleInTransaction(ctx, dsn, app, "locks", 1))
	stage(incident.Writer(ctx, dsn, app+"-w1", "locks", 1))
	stage(incident.Writer(ctx, dsn, app+"-w2", "locks", 1))

	cr := runCounted(t, pb, "app="+app)

	if cr.res.ExitCode != engine.ExitOK {
		t.Errorf("exit %d (%s), want 0: the holder failed its first verify and passed the last", cr.res.ExitCode, cr.res.Message)
	}
	v := cr.verified(t, "gone")
	if len(v.Failed) != 1 || v.Failed[0] != holder.PID || v.Polls < 2 {
		t.Fatalf("verify gone: failed %v after %d polls, want [%d] after at least 2", v.Failed, v.Polls, holder.PID)
	}
	polls := cr.wantCalls(t, "gone", "SnapshotOf", v.Polls)
	for _, c := range polls {
		if c.targets != 1 {
			t.Errorf("a verify poll asked for %d sessions' rows, want the 1 target's", c.targets)
		}
	}
	cr.wantCalls(t, "gone", "", v.Polls)
	cr.wantOneStatementPerCall(t)
	// An idle transaction has no running statement: it passes
	// query_stopped at once, and is handed on with its lock facts too.
	if s := cr.verified(t, "stopped"); len(s.Passed) != 1 || s.Passed[0] != holder.PID {
		t.Errorf("verify stopped passed %v, want [%d]", s.Passed, holder.PID)
	}
	for _, step := range []string{"still_blocking", "passed_blocking"} {
		var kept []int
		for _, ev := range cr.events {
			if ev.Type == transcript.Selected && ev.Step == step {
				for _, s := range ev.Rows {
					kept = append(kept, s.PID)
				}
			}
		}
		if len(kept) != 1 || kept[0] != holder.PID {
			t.Errorf("%s kept %v, want the holder [%d]: its row was handed on without its lock facts\n%s", step, kept, holder.PID, cr.table())
		}
	}
}
