package pg

import (
	"context"
	"testing"
	"time"

	"github.com/pgrunbook/pgrunbook/internal/activity"
	"github.com/pgrunbook/pgrunbook/internal/incident"
	"github.com/pgrunbook/pgrunbook/internal/pg/pgtest"
)

// warmOptions connects with the first snapshot and the warm-up behind it,
// as `pgrunbook run` does when it may signal.
func warmOptions(dsn string) Options {
	return Options{DSN: dsn, FirstSnapshot: true, WarmUp: true}
}

// TestWarmUpThenSignalAndVerify: a connection made with the warm-up keeps
// it unread after connecting, and the first snapshot, the signal with its
// audit line and the verify's read work as without it. The warm-up leaves
// no prepared statement on the session.
func TestWarmUpThenSignalAndVerify(t *testing.T) {
	t.Parallel()
	ctx := pgtest.Context(t)
	db := newDB(t, "pg_warm")
	lq := pgtest.Staged[*incident.Session](t)(incident.LongQuery(ctx, db.dsn, "pgrb-warm", longQuery))
	c := connectClient(t, ctx, warmOptions(db.dsn))
	if c.ahead == nil {
		t.Fatal("no warm-up is pending after connecting with WarmUp")
	}
	r := mustRow(t, snapshot(t, ctx, c), lq.PID, "the long query")
	if c.ahead == nil {
		t.Error("the first snapshot, read while connecting, read the warm-up's answer too")
	}
	// The warm-up loaded PL/pgSQL before any block of pgrunbook's ran:
	// the language defines its settings when it loads, and a setting not
	// defined reads as NULL here. Reading it is the next statement, which
	// reads the warm-up's answer first.
	var conflict *string
	if err := c.queryRow(ctx, "SELECT current_setting('plpgsql.variable_conflict', true)").Scan(&conflict); err != nil {
		t.Fatal(err)
	}
	if conflict == nil {
		t.Error("PL/pgSQL is not loaded in the backend after the warm-up")
	}

	res := signal(t, ctx, c, activity.Cancel, []activity.SignalTarget{target(r, true)})
	wantOutcome(t, "cancel after the warm-up", res[0], lq.PID, activity.Signalled)
	if c.ahead != nil {
		t.Error("the warm-up is still pending after a signal")
	}
	if p := c.TakeAuditProblem(); p != "" {
		t.Errorf("the audit block failed: %s", p)
	}
	pgtest.WaitDone(t, lq, lq.App)
	if got := SQLState(lq.Err()); got != "57014" {
		t.Fatalf("cancelled query ended with %v, want query_canceled 57014", lq.Err())
	}
	after, err := c.SnapshotOf(ctx, []int{lq.PID})
	if err != nil {
		t.Fatal(err)
	}
	if s := mustRow(t, after, lq.PID, "the cancelled session"); s.State != "idle" {
		t.Errorf("the cancelled session is %q after the cancel, want idle", s.State)
	}

	// What the session holds prepared is pgrunbook's own statements,
	// prepared at their first use, and nothing else.
	rows, err := c.query(ctx, "SELECT name FROM pg_prepared_statements ORDER BY name")
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			t.Fatal(err)
		}
		names = append(names, n)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	if want := len(c.link.statements.byText); len(names) != want {
		t.Errorf("the session holds %d prepared statements %v, want the %d pgrunbook prepared at first use", len(names), names, want)
	}
}

// TestWarmUpReadLongAfterConnecting: the warm-up's answer is read by the
// connection's next statement, which may come long after connecting (a
// confirmation, a wait step, a watch's next round): later than any
// statement's bound, the signal still goes out on the same backend.
func TestWarmUpReadLongAfterConnecting(t *testing.T) {
	t.Parallel()
	ctx := pgtest.Context(t)
	db := newDB(t, "pg_warm_late")
	lq := pgtest.Staged[*incident.Session](t)(incident.LongQuery(ctx, db.dsn, "pgrb-warm-late", longQuery))
	opts := warmOptions(db.dsn)
	opts.StatementTimeout = 100 * time.Millisecond
	c := connectClient(t, ctx, opts)
	r := mustRow(t, snapshot(t, ctx, c), lq.PID, "the long query")
	if c.ahead == nil {
		t.Fatal("no warm-up is pending after connecting with WarmUp")
	}
	pid := c.Info().PID

	// Set-up, not a timing assertion: the signal must come after the
	// bound of a statement (statement_timeout + StatementGrace) has
	// passed since connecting.
	time.Sleep(c.link.statementBound() + 500*time.Millisecond)

	res := signal(t, ctx, c, activity.Cancel, []activity.SignalTarget{target(r, true)})
	wantOutcome(t, "cancel long after connecting", res[0], lq.PID, activity.Signalled)
	if got := c.Info().PID; got != pid {
		t.Errorf("the signal went out on backend %d, not on the one connected (%d): the connection was lost and made again", got, pid)
	}
	pgtest.WaitDone(t, lq, lq.App)
}

// TestWarmUpThatFailsCostsNothing: a role that may not use PL/pgSQL fails
// the warm-up's block; the connection goes on working, the signal is
// sent, and only the audit block's own failure is reported.
func TestWarmUpThatFailsCostsNothing(t *testing.T) {
	t.Parallel()
	ctx := pgtest.Context(t)
	db := newDB(t, "pg_warm_fail")
	role, app := withoutPLpgSQL(t, ctx, db)
	lq := pgtest.Staged[*incident.Session](t)(incident.LongQuery(ctx, app.dsn(db.name), "pgrb-warm-fail", longQuery))
	c := connectClient(t, ctx, warmOptions(role.dsn(db.name)))
	r := mustRow(t, snapshot(t, ctx, c), lq.PID, "the long query")

	res := signal(t, ctx, c, activity.Cancel, []activity.SignalTarget{target(r, true)})
	wantOutcome(t, "cancel after a failed warm-up", res[0], lq.PID, activity.Signalled)
	pgtest.WaitDone(t, lq, lq.App)
	if p := c.TakeAuditProblem(); p == "" {
		t.Error("no audit problem reported although the block could not run")
	}
	if got := snapshot(t, ctx, c).Rows; len(got) == 0 {
		t.Error("a snapshot after the failed warm-up read no rows")
	}
}

// TestWarmUpAndClose: a client closed with the warm-up unread closes
// cleanly: its backend ends.
func TestWarmUpAndClose(t *testing.T) {
	t.Parallel()
	ctx := pgtest.Context(t)
	db := newDB(t, "pg_warm_close")
	c, err := Connect(ctx, warmOptions(db.dsn))
	if err != nil {
		t.Fatal(err)
	}
	if c.ahead == nil {
		t.Fatal("no warm-up is pending after connecting with WarmUp")
	}
	pid := c.Info().PID
	c.Close(context.Background())
	if c.ahead != nil {
		t.Error("Close left the warm-up unread")
	}
	pgtest.WaitGone(t, ctx, db.ctl, pid)
}

// TestNoWarmUpThroughAPooler: through a pooler the warm-up is read before
// the probes that tell the pooler, and none is kept.
func TestNoWarmUpThroughAPooler(t *testing.T) {
	t.Parallel()
	ctx := pgtest.Context(t)
	db := newDB(t, "pg_warm_pooler")
	b := pgtest.StartPgBouncer(t, pgtest.PgBouncerOptions{PoolMode: pgtest.SessionPooling})
	c := connectClient(t, ctx, warmOptions(b.DSN(db.name)))
	if c.Info().Pooler == nil {
		t.Fatalf("no pooler seen through %s", b.Addr())
	}
	if c.ahead != nil {
		t.Error("a warm-up is kept on a connection through a pooler")
	}
	if got := snapshot(t, ctx, c).Rows; len(got) == 0 {
		t.Error("a snapshot through the pooler read no rows")
	}
}
