package pg

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/pgrunbook/pgrunbook/internal/activity"
	"github.com/pgrunbook/pgrunbook/internal/incident"
	"github.com/pgrunbook/pgrunbook/internal/pg/pgtest"
)

func TestSignalCancelRightIdentity(t *testing.T) {
	t.Parallel()
	ctx := pgtest.Context(t)
	db := newDB(t, "pg_sig_cancel")
	lq := pgtest.Staged[*incident.Session](t)(incident.LongQuery(ctx, db.dsn, "pgrb-cancel-me", longQuery))
	c := connectClient(t, ctx, Options{DSN: db.dsn})

	r := mustRow(t, snapshot(t, ctx, c), lq.PID, "the long query")
	res := signal(t, ctx, c, activity.Cancel, []activity.SignalTarget{target(r, true)})
	wantOutcome(t, "cancel with the right identity", res[0], lq.PID, activity.Signalled)

	pgtest.WaitDone(t, lq, lq.App)
	if got := SQLState(lq.Err()); got != "57014" {
		t.Fatalf("cancelled query ended with %v (SQLSTATE %q), want query_canceled 57014", lq.Err(), got)
	}
	if !lq.Alive(ctx) {
		t.Error("the session did not survive the cancel")
	}
	after := mustRow(t, snapshot(t, ctx, c), lq.PID, "the cancelled session")
	if !after.BackendStart.Equal(r.BackendStart) || after.State != "idle" {
		t.Errorf("after cancel: backend_start %v state %q, want %v idle", after.BackendStart, after.State, r.BackendStart)
	}
}

func TestSignalIdentityMismatch(t *testing.T) {
	t.Parallel()
	ctx := pgtest.Context(t)
	db := newDB(t, "pg_sig_mismatch")
	lq := pgtest.Staged[*incident.Session](t)(incident.LongQuery(ctx, db.dsn, "pgrb-keep-running", longQuery))
	c := connectClient(t, ctx, Options{DSN: db.dsn})
	r := mustRow(t, snapshot(t, ctx, c), lq.PID, "the long query")

	for _, tc := range []struct {
		name string
		fn   activity.Function
		tgt  func(activity.SignalTarget) activity.SignalTarget
	}{
		{"cancel/backend_start", activity.Cancel, func(t activity.SignalTarget) activity.SignalTarget {
			t.BackendStart = t.BackendStart.Add(-time.Microsecond)
			return t
		}},
		{"cancel/query_start", activity.Cancel, func(t activity.SignalTarget) activity.SignalTarget {
			t.QueryStart = t.QueryStart.Add(-time.Microsecond)
			return t
		}},
		{"cancel/zero_backend_start", activity.Cancel, func(t activity.SignalTarget) activity.SignalTarget {
			t.BackendStart = time.Time{}
			return t
		}},
		{"terminate/backend_start", activity.Terminate, func(t activity.SignalTarget) activity.SignalTarget {
			t.BackendStart = t.BackendStart.Add(time.Second)
			t.CheckQuery = false
			return t
		}},
		{"terminate/query_start_with_check", activity.Terminate, func(t activity.SignalTarget) activity.SignalTarget {
			t.QueryStart = t.QueryStart.Add(time.Second)
			return t
		}},
		// The backend type is the snapshot's: one it did not show, or
		// one not allowed, is never signalled.
		{"cancel/no_backend_type", activity.Cancel, func(t activity.SignalTarget) activity.SignalTarget {
			t.BackendType = ""
			return t
		}},
		{"terminate/backend_type_not_allowed", activity.Terminate, func(t activity.SignalTarget) activity.SignalTarget {
			t.BackendType = "walsender"
			return t
		}},
	} {
		res := signal(t, ctx, c, tc.fn, []activity.SignalTarget{tc.tgt(target(r, true))})
		wantOutcome(t, tc.name, res[0], lq.PID, activity.Changed)
	}
	stillRunning(t, ctx, c, lq, r.QueryStart)

	// Without CheckQuery a different query_start is not part of the
	// identity: the session is signalled.
	tgt := target(r, false)
	tgt.QueryStart = tgt.QueryStart.Add(-time.Hour)
	res := signal(t, ctx, c, activity.Cancel, []activity.SignalTarget{tgt})
	wantOutcome(t, "cancel without CheckQuery", res[0], lq.PID, activity.Signalled)
	pgtest.WaitDone(t, lq, lq.App)
	if got := SQLState(lq.Err()); got != "57014" {
		t.Fatalf("query ended with %v (SQLSTATE %q), want 57014", lq.Err(), got)
	}
}

func TestSignalNeverOwnOrNonClientBackend(t *testing.T) {
	t.Parallel()
	ctx := pgtest.Context(t)
	db := newDB(t, "pg_sig_self")
	c := connectClient(t, ctx, Options{DSN: db.dsn})
	snap := snapshot(t, ctx, c)

	var self *activity.Session
	for i := range snap.Rows {
		if snap.Rows[i].IsSelf {
			self = &snap.Rows[i]
		}
	}
	if self == nil {
		t.Fatal("no own row in the snapshot")
	}
	for _, fn := range []activity.Function{activity.Cancel, activity.Terminate} {
		// Even when the caller opts in to client backends explicitly.
		res := signal(t, ctx, c, fn, []activity.SignalTarget{target(self, false)}, activity.ClientBackend)
		wantOutcome(t, string(fn)+" own backend", res[0], self.PID, activity.Changed)
	}

	// The server's own processes are not client backends. (Only cancel is
	// tried: a bug here must not terminate a server process.)
	var system []*activity.Session
	for _, bt := range []string{"checkpointer", "background writer", "walwriter", "autovacuum launcher", "logical replication launcher"} {
		if r := rowOfType(snap, bt); r != nil {
			system = append(system, r)
		}
	}
	if len(system) < 3 {
		t.Fatalf("only %d background processes in the snapshot", len(system))
	}
	for _, r := range system {
		res := signal(t, ctx, c, activity.Cancel, []activity.SignalTarget{target(r, false)})
		wantOutcome(t, "cancel "+r.BackendType, res[0], r.PID, activity.Changed)
		// Opting in to another type does not let this one through.
		res = signal(t, ctx, c, activity.Cancel, []activity.SignalTarget{target(r, false)}, activity.ClientBackend, "parallel worker")
		wantOutcome(t, "cancel "+r.BackendType+" with other types allowed", res[0], r.PID, activity.Changed)
	}
	after := snapshot(t, ctx, c)
	for _, r := range system {
		if a := row(after, r.PID); a == nil || !a.BackendStart.Equal(r.BackendStart) {
			t.Errorf("%s (pid %d) is no longer running", r.BackendType, r.PID)
		}
	}
	if a := row(after, self.PID); a == nil || !a.IsSelf {
		t.Error("own backend lost")
	}
}

func TestSignalNotFound(t *testing.T) {
	t.Parallel()
	ctx := pgtest.Context(t)
	db := newDB(t, "pg_sig_notfound")
	ended := pgtest.Staged[*incident.Session](t)(incident.Idle(ctx, db.dsn, "pgrb-ended"))
	c := connectClient(t, ctx, Options{DSN: db.dsn})
	r := mustRow(t, snapshot(t, ctx, c), ended.PID, "the idle session")
	if _, err := db.ctl.Exec(ctx, "SELECT pg_terminate_backend($1)", ended.PID); err != nil {
		t.Fatal(err)
	}
	pgtest.WaitGone(t, ctx, db.ctl, ended.PID)

	for _, fn := range []activity.Function{activity.Cancel, activity.Terminate} {
		res := signal(t, ctx, c, fn, []activity.SignalTarget{
			target(r, false),
			{Identity: activity.Identity{PID: missingPID, BackendStart: r.BackendStart}},
		})
		wantOutcome(t, string(fn)+" ended session", res[0], r.PID, activity.NotFound)
		wantOutcome(t, string(fn)+" pid that never existed", res[1], missingPID, activity.NotFound)
	}
}

func TestSignalTerminate(t *testing.T) {
	t.Parallel()
	ctx := pgtest.Context(t)
	db := newDB(t, "pg_sig_terminate")
	lq := pgtest.Staged[*incident.Session](t)(incident.LongQuery(ctx, db.dsn, "pgrb-terminate-me", longQuery))
	holder := pgtest.Staged[*incident.Session](t)(incident.Idle(ctx, db.dsn, "pgrb-terminate-idle"))
	c := connectClient(t, ctx, Options{DSN: db.dsn})
	snap := snapshot(t, ctx, c)
	r := mustRow(t, snap, lq.PID, "the long query")
	h := mustRow(t, snap, holder.PID, "the idle session")

	res := signal(t, ctx, c, activity.Terminate, []activity.SignalTarget{target(r, false), target(h, false)})
	wantOutcome(t, "terminate long query", res[0], lq.PID, activity.Signalled)
	wantOutcome(t, "terminate idle session", res[1], holder.PID, activity.Signalled)

	pgtest.WaitDone(t, lq, lq.App)
	if got := SQLState(lq.Err()); got != "57P01" {
		t.Fatalf("terminated query ended with %v (SQLSTATE %q), want admin_shutdown 57P01", lq.Err(), got)
	}
	if lq.Alive(ctx) {
		t.Error("the session is still alive after terminate")
	}
	pgtest.WaitGone(t, ctx, db.ctl, lq.PID)
	pgtest.WaitGone(t, ctx, db.ctl, holder.PID)
	after := snapshot(t, ctx, c)
	if row(after, lq.PID) != nil || row(after, holder.PID) != nil {
		t.Error("a fresh snapshot still shows a terminated session")
	}
	// Signalling the same identities again finds nothing.
	res = signal(t, ctx, c, activity.Terminate, []activity.SignalTarget{target(r, false), target(h, false)})
	wantOutcome(t, "terminate again", res[0], lq.PID, activity.NotFound)
	wantOutcome(t, "terminate again", res[1], holder.PID, activity.NotFound)
}

func TestSignalBatchInTargetOrder(t *testing.T) {
	t.Parallel()
	ctx := pgtest.Context(t)
	db := newDB(t, "pg_sig_batch")
	wrongStart := pgtest.Staged[*incident.Session](t)(incident.LongQuery(ctx, db.dsn, "pgrb-batch-wrong-start", longQuery))
	right := pgtest.Staged[*incident.Session](t)(incident.LongQuery(ctx, db.dsn, "pgrb-batch-right", longQuery))
	wrongQuery := pgtest.Staged[*incident.Session](t)(incident.LongQuery(ctx, db.dsn, "pgrb-batch-wrong-query", longQuery))
	right2 := pgtest.Staged[*incident.Session](t)(incident.LongQuery(ctx, db.dsn, "pgrb-batch-right2", longQuery))
	c := connectClient(t, ctx, Options{DSN: db.dsn})
	snap := snapshot(t, ctx, c)

	ws := target(mustRow(t, snap, wrongStart.PID, "wrong-start"), true)
	ws.BackendStart = ws.BackendStart.Add(-time.Millisecond)
	wq := target(mustRow(t, snap, wrongQuery.PID, "wrong-query"), true)
	wq.QueryStart = wq.QueryStart.Add(time.Millisecond)
	var self, ckpt *activity.Session
	for i := range snap.Rows {
		if snap.Rows[i].IsSelf {
			self = &snap.Rows[i]
		}
	}
	if ckpt = rowOfType(snap, "checkpointer"); ckpt == nil || self == nil {
		t.Fatal("no checkpointer or own row in the snapshot")
	}

	targets := []activity.SignalTarget{
		ws,
		target(self, false),
		target(mustRow(t, snap, right.PID, "right"), true),
		{Identity: activity.Identity{PID: missingPID, BackendStart: self.BackendStart}},
		target(ckpt, false),
		wq,
		target(mustRow(t, snap, right2.PID, "right2"), true),
	}
	want := []struct {
		pid     int
		outcome activity.Outcome
	}{
		{wrongStart.PID, activity.Changed},
		{self.PID, activity.Changed},
		{right.PID, activity.Signalled},
		{missingPID, activity.NotFound},
		{ckpt.PID, activity.Changed},
		{wrongQuery.PID, activity.Changed},
		{right2.PID, activity.Signalled},
	}
	res := signal(t, ctx, c, activity.Cancel, targets)
	for i, w := range want {
		wantOutcome(t, fmt.Sprintf("batch target %d", i), res[i], w.pid, w.outcome)
	}

	for _, s := range []*incident.Session{right, right2} {
		pgtest.WaitDone(t, s, s.App)
		if got := SQLState(s.Err()); got != "57014" {
			t.Errorf("%s ended with %v (SQLSTATE %q), want 57014", s.App, s.Err(), got)
		}
	}
	stillRunning(t, ctx, c, wrongStart, ws.QueryStart)
	stillRunning(t, ctx, c, wrongQuery, mustRow(t, snap, wrongQuery.PID, "wrong-query").QueryStart)
}

func TestSignalArguments(t *testing.T) {
	t.Parallel()
	ctx := pgtest.Context(t)
	c := connectClient(t, ctx, Options{DSN: newDB(t, "pg_sig_args").dsn})
	res, err := c.Signal(ctx, activity.Cancel, nil, nil)
	if err != nil || len(res) != 0 {
		t.Errorf("Signal with no targets = %v, %v; want nothing", res, err)
	}
	_, err = c.Signal(ctx, activity.Function("pg_reload_conf"), []activity.SignalTarget{{Identity: activity.Identity{PID: 1}}}, nil)
	if err == nil {
		t.Error("Signal accepted a function other than cancel or terminate")
	}
}

// TestSignalFallbackOnPermissionError exercises the per-target fallback
// that Signal takes when the server refuses a whole batch with SQLSTATE
// 42501. The shipped statement predicts every refusal PostgreSQL makes, so
// the path cannot be reached with it; this test swaps in a statement
// without the prediction (and without the identity checks) for its
// duration. It is not parallel: no other test runs while the package
// variable is replaced.
func TestSignalFallbackOnPermissionError(t *testing.T) {
	ctx := pgtest.Context(t)
	db := newDB(t, "pg_sig_fallback")
	role := createRole(t, ctx, "pg_read_all_stats")
	super := pgtest.Staged[*incident.Session](t)(incident.LongQuery(ctx, db.dsn, "pgrb-fallback-super", longQuery))
	own := pgtest.Staged[*incident.Session](t)(incident.LongQuery(ctx, role.dsn(db.name), "pgrb-fallback-own", longQuery))
	c := connectClient(t, ctx, Options{DSN: role.dsn(db.name)})
	snap := snapshot(t, ctx, c)
	s := mustRow(t, snap, super.PID, "superuser's query")
	o := mustRow(t, snap, own.PID, "own role's query")

	saved := cancelSQL
	t.Cleanup(func() { cancelSQL = saved })
	cancelSQL = `SELECT t.pid, CASE WHEN pg_cancel_backend(t.pid) THEN 'signalled' ELSE 'not_found' END
FROM unnest($1::int[], $2::timestamptz[], $3::timestamptz[]) AS t(pid, backend_start, query_start)
WHERE $4::text[] IS NOT NULL AND $5::timestamptz[] IS NOT NULL AND $6::bigint[] IS NOT NULL`

	// The superuser's session comes first, so the failing batch has
	// signalled nothing before the server refuses it.
	res := signal(t, ctx, c, activity.Cancel, []activity.SignalTarget{
		target(s, true),
		target(o, true),
		{Identity: activity.Identity{PID: missingPID, BackendStart: o.BackendStart}},
	})
	wantOutcome(t, "superuser's session", res[0], super.PID, activity.Denied)
	if res[0].Message == "" {
		t.Error("denied result has no message")
	}
	wantOutcome(t, "own role's session", res[1], own.PID, activity.Signalled)
	wantOutcome(t, "missing pid", res[2], missingPID, activity.NotFound)
	if !strings.Contains(res[2].Message, "refused may have signalled it") {
		t.Errorf("a target the fallback found gone says %q, want that the refused batch may have signalled it", res[2].Message)
	}
	if p := c.TakeAuditProblem(); !strings.Contains(p, "refused the batch pg_cancel_backend statement") {
		t.Errorf("audit problem %q, want the refused batch's lost log lines named", p)
	}

	pgtest.WaitDone(t, own, own.App)
	if got := SQLState(own.Err()); got != "57014" {
		t.Errorf("own role's query ended with %v (SQLSTATE %q), want 57014", own.Err(), got)
	}
	stillRunning(t, ctx, c, super, s.QueryStart)
}

// Regression: a playbook's backend_types opts in types *in addition to*
// client backends (README safety rule 1, engine.eligible), but Signal used
// to treat a non-empty list as the complete allow-list, so every client
// backend of a step that named e.g. "autovacuum worker" came back
// `changed`. Signal now always allows client backends.
func TestSignalOptInTypesKeepClientBackends(t *testing.T) {
	t.Parallel()
	ctx := pgtest.Context(t)
	db := newDB(t, "pg_sig_optin")
	lq := pgtest.Staged[*incident.Session](t)(incident.LongQuery(ctx, db.dsn, "pgrb-optin", longQuery))
	c := connectClient(t, ctx, Options{DSN: db.dsn})
	r := mustRow(t, snapshot(t, ctx, c), lq.PID, "the long query")

	res := signal(t, ctx, c, activity.Cancel, []activity.SignalTarget{target(r, true)}, "autovacuum worker")
	if res[0].Outcome != activity.Signalled {
		t.Fatalf("cancel of a client backend with backend_types [autovacuum worker] opted in: %+v, want signalled", res[0])
	}
	pgtest.WaitDone(t, lq, lq.App)
	if got := SQLState(lq.Err()); got != "57014" {
		t.Errorf("query ended with %v (SQLSTATE %q), want 57014", lq.Err(), got)
	}
}

// A terminate re-checks the transaction it was approved for: if the
// session's transaction is no longer the one seen (xact_start differs), the
// reason to end the session went with it, and the target is `changed`.
func TestSignalTerminateChecksTransaction(t *testing.T) {
	t.Parallel()
	ctx := pgtest.Context(t)
	db := newDB(t, "pg_sig_xact")
	if err := incident.CreateLockTable(ctx, db.dsn, "xact_rows", 1); err != nil {
		t.Fatal(err)
	}
	idle := pgtest.Staged[*incident.Session](t)(incident.IdleInTransaction(ctx, db.dsn, "pgrb-xact", "xact_rows", 1))
	c := connectClient(t, ctx, Options{DSN: db.dsn})
	r := mustRow(t, snapshot(t, ctx, c), idle.PID, "the idle transaction")
	if r.XactStart.IsZero() {
		t.Fatal("an idle-in-transaction session has no xact_start")
	}
	stale := activity.SignalTarget{Identity: r.Identity(), BackendType: r.BackendType, CheckXact: true}
	stale.XactStart = r.XactStart.Add(-time.Second)
	res := signal(t, ctx, c, activity.Terminate, []activity.SignalTarget{stale})
	if res[0].Outcome != activity.Changed {
		t.Fatalf("terminate with another transaction's xact_start: %+v, want changed", res[0])
	}
	if !idle.Alive(ctx) {
		t.Fatal("the session was terminated although its transaction did not match")
	}
	res = signal(t, ctx, c, activity.Terminate, []activity.SignalTarget{{Identity: r.Identity(), BackendType: r.BackendType, CheckXact: true}})
	if res[0].Outcome != activity.Signalled {
		t.Fatalf("terminate with the right transaction: %+v, want signalled", res[0])
	}
}

// TestSignalOnALinkClosedUnderTheClientSendsNothing: the client does not
// know yet that its link is gone (its socket closed under it, the answers
// it waited for all read, or, with the warm-up, its answer still unread),
// so it tries to send; the write fails before a byte leaves, and the error
// says nothing was sent, so that the engine may reconnect and send the
// signal once.
func TestSignalOnALinkClosedUnderTheClientSendsNothing(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		warm bool
	}{{"answers_read", false}, {"warm_up_unread", true}} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ctx := pgtest.Context(t)
			db := newDB(t, "pg_sig_closed_"+tc.name)
			lq := pgtest.Staged[*incident.Session](t)(incident.LongQuery(ctx, db.dsn, "pgrb-closed-"+tc.name, longQuery))
			opts := Options{DSN: db.dsn}
			if tc.warm {
				opts = warmOptions(db.dsn)
			}
			c := connectClient(t, ctx, opts)
			r := mustRow(t, snapshot(t, ctx, c), lq.PID, "the long query")
			if tc.warm && c.ahead == nil {
				t.Fatal("no warm-up is pending after connecting with WarmUp")
			}

			if err := c.conn.PgConn().Conn().Close(); err != nil {
				t.Fatal(err)
			}
			wantSentOnceAfterReconnect(t, ctx, c, lq, r)
		})
	}
}

// TestSignalOnAClosedConnectionSendsNothing: once the client knows its
// connection is gone, Signal sends nothing and says so (NotSent), and
// after Reconnect the same signal goes out once.
func TestSignalOnAClosedConnectionSendsNothing(t *testing.T) {
	t.Parallel()
	ctx := pgtest.Context(t)
	db := newDB(t, "pg_sig_unsent")
	lq := pgtest.Staged[*incident.Session](t)(incident.LongQuery(ctx, db.dsn, "pgrb-unsent", longQuery))
	c := connectClient(t, ctx, Options{DSN: db.dsn})
	r := mustRow(t, snapshot(t, ctx, c), lq.PID, "the long query")

	if _, err := db.ctl.Exec(ctx, "SELECT pg_terminate_backend($1)", c.Info().PID); err != nil {
		t.Fatal(err)
	}
	pgtest.WaitGone(t, ctx, db.ctl, c.Info().PID)
	if _, err := c.Snapshot(ctx); err == nil {
		t.Fatal("a snapshot on a terminated backend succeeded")
	}
	wantSentOnceAfterReconnect(t, ctx, c, lq, r)
	pgtest.WaitDone(t, lq, lq.App)
	if got := SQLState(lq.Err()); got != "57014" {
		t.Errorf("the long query ended with %v, want query_canceled", lq.Err())
	}
}
