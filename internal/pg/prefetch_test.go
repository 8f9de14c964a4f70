package pg

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/pgrunbook/pgrunbook/internal/activity"
	"github.com/pgrunbook/pgrunbook/internal/incident"
	"github.com/pgrunbook/pgrunbook/internal/pg/pgtest"
)

func TestVersionFromStartup(t *testing.T) {
	for in, want := range map[string]int{
		"15.10 (Debian 15.10-1.pgdg120+1)": 150010,
		"18.4":                             180004,
		"13.23":                            130023,
		"16beta1":                          160000,
		"17rc1":                            170000,
		"9.6.24":                           0,
		"":                                 0,
		"x":                                0,
	} {
		if got := versionFromStartup(in); got != want {
			t.Errorf("versionFromStartup(%q) = %d, want %d", in, got, want)
		}
	}
}

// With FirstSnapshot, the first Snapshot returns what Connect read with
// its set-up statement: taken before a session staged after connecting,
// so that session is not in it. Once the prefetched snapshot is older than
// prefetchFresh, or was handed out once, Snapshot reads afresh.
func TestFirstSnapshotIsReadWhileConnecting(t *testing.T) {
	t.Parallel()
	ctx := pgtest.Context(t)
	db := newDB(t, "pg_prefetch")
	before := pgtest.Staged[*incident.Session](t)(incident.LongQuery(ctx, db.dsn, "pgrb-before", longQuery))

	c := connectClient(t, ctx, Options{DSN: db.dsn, FirstSnapshot: true})
	if c.prefetch == nil {
		t.Fatal("Connect with FirstSnapshot read no snapshot")
	}
	after := pgtest.Staged[*incident.Session](t)(incident.LongQuery(ctx, db.dsn, "pgrb-after", longQuery))

	first := snapshot(t, ctx, c)
	mustRow(t, first, before.PID, "the session staged before connecting")
	if row(first, after.PID) != nil {
		t.Error("the first snapshot has a session staged after Connect returned: it was not the prefetched one")
	}
	self := 0
	for _, r := range first.Rows {
		if r.IsSelf {
			self = r.PID
		}
	}
	if self != c.Info().PID {
		t.Errorf("the prefetched snapshot marks pid %d as pgrunbook's own, want %d", self, c.Info().PID)
	}
	if first.Server.Port != c.Info().Port || first.Server.MaxConnections == 0 {
		t.Errorf("the prefetched snapshot lacks the server facts: %+v", first.Server)
	}
	if r := mustRow(t, first, before.PID, "the long query"); r.BackendRuntime <= 0 {
		t.Errorf("derived facts missing from the prefetched snapshot: backend_runtime %v", r.BackendRuntime)
	}
	mustRow(t, snapshot(t, ctx, c), after.PID, "the session staged after connecting, on the second snapshot")

	// A prefetched snapshot that has grown stale is not used.
	c2 := connectClient(t, ctx, Options{DSN: db.dsn, FirstSnapshot: true})
	if c2.prefetch == nil {
		t.Fatal("Connect with FirstSnapshot read no snapshot")
	}
	c2.prefetch.at = c2.prefetch.at.Add(-prefetchFresh - time.Millisecond)
	late := pgtest.Staged[*incident.Session](t)(incident.LongQuery(ctx, db.dsn, "pgrb-late", longQuery))
	mustRow(t, snapshot(t, ctx, c2), late.PID, "a session staged after connecting, once the prefetched snapshot is stale")

	// Without FirstSnapshot nothing is prefetched.
	if c3 := connectClient(t, ctx, Options{DSN: db.dsn}); c3.prefetch != nil {
		t.Error("Connect without FirstSnapshot prefetched a snapshot")
	}
}

// A snapshot statement that fails in the set-up's pipeline shares its
// implicit transaction, so it rolls the set-up's set_config calls back:
// the set-up is sent again on its own, and the settings hold.
func TestFailedPrefetchKeepsTheSettings(t *testing.T) {
	t.Parallel()
	ctx := pgtest.Context(t)
	db := newDB(t, "pg_prefetch_fail")
	conn, err := pgx.Connect(ctx, db.dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close(context.Background()) })

	var applied, pid string
	pre, tail, err := setUpStatement(ctx, conn, "SELECT 1/0",
		"SELECT set_config($1, $2, false), pg_backend_pid()::text", []any{"statement_timeout", "4321"}, []any{&applied, &pid}, nil,
		versionFromStartup(conn.PgConn().ParameterStatus("server_version")), time.Minute)
	if tail != nil {
		t.Error("a warm-up was kept behind a failed snapshot")
	}
	if err != nil {
		t.Fatalf("set-up failed with the snapshot: %v", err)
	}
	if pre != nil {
		t.Error("a failed snapshot was kept")
	}
	if applied != "4321ms" {
		t.Errorf("set_config reported %q, want 4321ms", applied)
	}
	var now string
	if err := conn.QueryRow(ctx, "SELECT current_setting('statement_timeout')").Scan(&now); err != nil {
		t.Fatal(err)
	}
	if now != "4321ms" {
		t.Errorf("after the failed snapshot statement_timeout is %q, want 4321ms: the set-up was rolled back and not redone", now)
	}
}

// The block that writes the signals' server log lines travels in the
// signal's round trip. When it fails (here: the role may not use
// PL/pgSQL, as on servers that revoke it from PUBLIC) the signal's
// outcome still stands, the problem is reported once, and the connection
// goes on working.
func TestAuditFailureNeverHidesASignal(t *testing.T) {
	t.Parallel()
	ctx := pgtest.Context(t)
	db := newDB(t, "pg_audit_fail")
	role, app := withoutPLpgSQL(t, ctx, db)
	lq := pgtest.Staged[*incident.Session](t)(incident.LongQuery(ctx, app.dsn(db.name), "pgrb-audit-fail", longQuery))
	c := connectClient(t, ctx, Options{DSN: role.dsn(db.name)})
	r := mustRow(t, snapshot(t, ctx, c), lq.PID, "the long query")

	res := signal(t, ctx, c, activity.Cancel, []activity.SignalTarget{target(r, true)})
	wantOutcome(t, "cancel when the audit block fails", res[0], lq.PID, activity.Signalled)
	pgtest.WaitDone(t, lq, lq.App)
	if got := SQLState(lq.Err()); got != "57014" {
		t.Errorf("the long query ended with %v, want query_canceled", lq.Err())
	}
	if p := c.TakeAuditProblem(); p == "" {
		t.Error("no audit problem reported although the block could not run")
	}
	if p := c.TakeAuditProblem(); p != "" {
		t.Errorf("the audit problem was reported twice: %q", p)
	}
	// The connection is usable: a snapshot and another signal work, and
	// the second signal's audit problem is reported for it.
	snapshot(t, ctx, c)
	res = signal(t, ctx, c, activity.Cancel, []activity.SignalTarget{target(r, true)})
	wantOutcome(t, "a second cancel, of the now idle session", res[0], lq.PID, activity.Signalled)
	if p := c.TakeAuditProblem(); p == "" {
		t.Error("no audit problem reported for the second signal")
	}
}

// The snapshot sent behind the set-up statement shares its transaction,
// which began before default_transaction_read_only was set: the set-up
// statement makes that transaction read-only itself (safety rule 6).
func TestSetUpTransactionIsReadOnly(t *testing.T) {
	t.Parallel()
	ctx := pgtest.Context(t)
	db := newDB(t, "pg_setup_ro")
	conn, err := pgx.Connect(ctx, db.dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close(context.Background()) })
	want := sessionSettings(DefaultStatementTimeout, DefaultLockTimeout)
	var args []any
	for _, s := range want {
		args = append(args, s.name, s.value)
	}
	args = append(args, providerArgs()...)
	values, oids, err := encodeArgs(conn.TypeMap(), args)
	if err != nil {
		t.Fatal(err)
	}
	p := conn.PgConn().StartPipeline(ctx)
	p.SendQueryParams(setupSQL(len(want)), values, oids, binaryResults, nil)
	p.SendQueryParams("SELECT current_setting('transaction_read_only')", nil, nil, nil, nil)
	if err := p.Sync(); err != nil {
		t.Fatal(err)
	}
	if err := discardNext(p); err != nil {
		t.Fatalf("the set-up statement: %v", err)
	}
	res, err := p.GetResults()
	if err != nil {
		t.Fatal(err)
	}
	rows := res.(*pgconn.ResultReader).Read()
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	if rows.Err != nil || len(rows.Rows) != 1 || string(rows.Rows[0][0]) != "on" {
		t.Errorf("the statement behind the set-up runs with transaction_read_only %q (%v), want on", rows.Rows, rows.Err)
	}
}
