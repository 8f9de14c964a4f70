package pg

// Permission behaviours that differ between PostgreSQL majors. Every test
// here runs on every major (make test-matrix): it reads the server's
// version and asserts that version's behaviour.

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/pgrunbook/pgrunbook/internal/activity"
	"github.com/pgrunbook/pgrunbook/internal/incident"
	"github.com/pgrunbook/pgrunbook/internal/pg/pgtest"
	"github.com/pgrunbook/pgrunbook/internal/sandbox"
)

// serverVersionNum is server_version_num of the test server.
func serverVersionNum(t *testing.T, ctx context.Context, conn *pgx.Conn) int {
	t.Helper()
	var v int
	if err := conn.QueryRow(ctx, "SELECT current_setting('server_version_num')::int").Scan(&v); err != nil {
		t.Fatal(err)
	}
	return v
}

// predictionSQL runs permissionSQL on one made-up pg_stat_activity row.
const predictionSQL = `SELECT coalesce(` + permissionSQL + `, 'allowed')
FROM (VALUES ($1::text, $2::oid)) AS a(backend_type, usesysid)`

// TestPermissionPredictionByVersion checks the permission prediction of
// the signalling statement on fixture rows, as roles with and without the
// predefined roles, against what each major's signalfuncs.c decides.
// PostgreSQL 18 added pg_signal_autovacuum_worker: its members may signal
// autovacuum workers (which have no role), never the launcher.
func TestPermissionPredictionByVersion(t *testing.T) {
	t.Parallel()
	ctx := pgtest.Context(t)
	db := newDB(t, "pg_perm_predict")
	v := serverVersionNum(t, ctx, db.ctl)
	var hasAutovacRole bool
	var superOID uint32
	if err := db.ctl.QueryRow(ctx, `SELECT to_regrole('pg_signal_autovacuum_worker') IS NOT NULL,
        (SELECT oid FROM pg_roles WHERE rolname = current_user)`).Scan(&hasAutovacRole, &superOID); err != nil {
		t.Fatal(err)
	}
	if hasAutovacRole != (v >= 180000) {
		t.Fatalf("server_version_num %d, pg_signal_autovacuum_worker exists: %v; it is new in 18", v, hasAutovacRole)
	}

	plain := createRole(t, ctx, "pg_read_all_stats")
	signaller := createRole(t, ctx, "pg_read_all_stats", "pg_signal_backend")
	autovac := createRole(t, ctx, "pg_read_all_stats")
	if hasAutovacRole {
		grant(t, ctx, "pg_signal_autovacuum_worker", autovac)
	}
	other := createRole(t, ctx)
	var otherOID uint32
	if err := db.ctl.QueryRow(ctx, "SELECT oid FROM pg_roles WHERE rolname = $1", other.name).Scan(&otherOID); err != nil {
		t.Fatal(err)
	}

	// What the roles' connections predict for each kind of row.
	type row struct {
		what        string
		backendType string
		usesysid    *uint32
	}
	rows := []row{
		{"autovacuum worker", "autovacuum worker", nil},
		{"autovacuum launcher", "autovacuum launcher", nil},
		{"checkpointer", "checkpointer", nil},
		{"superuser's session", activity.ClientBackend, &superOID},
		{"other role's session", activity.ClientBackend, &otherOID},
	}
	autovacMember := "denied_superuser" // before 18 the role does not exist
	if hasAutovacRole {
		autovacMember = "allowed"
	}
	autovacOther := "denied_superuser"
	if hasAutovacRole {
		autovacOther = "denied_autovacuum"
	}
	want := map[string][]string{
		"superuser":                   {"allowed", "allowed", "allowed", "allowed", "allowed"},
		"pg_read_all_stats":           {autovacOther, "denied_superuser", "denied_superuser", "denied_superuser", "denied_role"},
		"pg_signal_backend":           {autovacOther, "denied_superuser", "denied_superuser", "denied_superuser", "allowed"},
		"pg_signal_autovacuum_worker": {autovacMember, "denied_superuser", "denied_superuser", "denied_superuser", "denied_role"},
	}
	conns := map[string]*pgx.Conn{
		"superuser":                   db.ctl,
		"pg_read_all_stats":           connectRole(t, ctx, plain, db.name),
		"pg_signal_backend":           connectRole(t, ctx, signaller, db.name),
		"pg_signal_autovacuum_worker": connectRole(t, ctx, autovac, db.name),
	}
	for who, conn := range conns {
		for i, r := range rows {
			var got string
			if err := conn.QueryRow(ctx, predictionSQL, r.backendType, r.usesysid).Scan(&got); err != nil {
				t.Fatalf("%s, %s: %v", who, r.what, err)
			}
			if got != want[who][i] {
				t.Errorf("PostgreSQL %d, as a role with %s, %s: predicted %q, want %q", v/10000, who, r.what, got, want[who][i])
			}
		}
	}
}

// connectRole opens a plain connection as r to database db.
func connectRole(t *testing.T, ctx context.Context, r testRole, db string) *pgx.Conn {
	t.Helper()
	conn, err := pgx.Connect(ctx, r.dsn(db))
	if err != nil {
		t.Fatalf("connect as %s: %v", r.name, err)
	}
	t.Cleanup(func() { _ = conn.Close(context.Background()) })
	return conn
}

// TestServerRefusalTextsByVersion: the server's own refusal of a signal
// is SQLSTATE 42501 on every major while its text changed in 16
// ("must be a superuser to ..." became "permission denied to ..." with a
// detail). Signal classifies by the code, so its fallback path (the
// prediction swapped out, as in TestSignalFallbackOnPermissionError)
// records both texts as denied. Not parallel: it replaces the package's
// statements for its duration.
func TestServerRefusalTextsByVersion(t *testing.T) {
	ctx := pgtest.Context(t)
	db := newDB(t, "pg_refusal_texts")
	v := serverVersionNum(t, ctx, db.ctl)
	role := createRole(t, ctx, "pg_read_all_stats")
	c := connectClient(t, ctx, Options{DSN: role.dsn(db.name)})

	savedCancel, savedTerminate, savedWait := cancelSQL, terminateSQL, terminateWaitSQL
	t.Cleanup(func() { cancelSQL, terminateSQL, terminateWaitSQL = savedCancel, savedTerminate, savedWait })
	unpredicted := `SELECT t.pid, CASE WHEN %s(t.pid) THEN 'signalled' ELSE 'not_found' END
FROM unnest($1::int[], $2::timestamptz[], $3::timestamptz[]) AS t(pid, backend_start, query_start)
WHERE $4::text[] IS NOT NULL AND $5::timestamptz[] IS NOT NULL AND $6::bigint[] IS NOT NULL`
	cancelSQL = fmt.Sprintf(unpredicted, activity.Cancel)
	terminateSQL = fmt.Sprintf(unpredicted, activity.Terminate)
	terminateWaitSQL = terminateSQL

	for _, tc := range []struct {
		fn        activity.Function
		old, new_ string
	}{
		{activity.Cancel, "must be a superuser to cancel superuser query", "permission denied to cancel query"},
		{activity.Terminate, "must be a superuser to terminate superuser process", "permission denied to terminate process"},
	} {
		super := pgtest.Staged[*incident.Session](t)(incident.LongQuery(ctx, db.dsn, "pgrb-texts-"+string(tc.fn), longQuery))
		s := mustRow(t, snapshot(t, ctx, c), super.PID, "superuser's query")

		// Directly, as the server says it.
		var dummy bool
		err := connectRole(t, ctx, role, db.name).QueryRow(ctx, "SELECT "+string(tc.fn)+"($1)", super.PID).Scan(&dummy)
		if SQLState(err) != "42501" {
			t.Fatalf("%s of a superuser's session as a plain role: %v (SQLSTATE %q), want 42501", tc.fn, err, SQLState(err))
		}
		text, other := tc.new_, tc.old
		if v < 160000 {
			text, other = tc.old, tc.new_
		}
		if msg := serverMessage(err); !strings.Contains(msg, text) || strings.Contains(msg, other) {
			t.Errorf("PostgreSQL %d refuses %s with %q, want the text %q", v/10000, tc.fn, msg, text)
		}

		// Through Signal's fallback: denied, with the server's message.
		res := signal(t, ctx, c, tc.fn, []activity.SignalTarget{target(s, true)})
		wantOutcome(t, "superuser's session, "+string(tc.fn), res[0], super.PID, activity.Denied)
		if !strings.Contains(res[0].Message, text) {
			t.Errorf("%s denied with message %q, want the server's %q", tc.fn, res[0].Message, text)
		}
		stillRunning(t, ctx, c, super, s.QueryStart)
	}
}

// TestSignalAutovacuumWorkerLive stages a real autovacuum worker, slowed
// down by its table's cost settings, on a cluster of its own (one-second
// autovacuum naptime) and signals it with Signal as non-superuser roles
// that see everything (pg_read_all_stats). With "autovacuum worker" among
// the allowed types, a member of pg_signal_autovacuum_worker cancels it on
// PostgreSQL 18; without the membership, and on every older major where
// the role does not exist, the worker is denied and keeps running.
func TestSignalAutovacuumWorkerLive(t *testing.T) {
	t.Parallel()
	ctx := pgtest.Context(t)
	startCtx, cancel := context.WithTimeout(ctx, 40*time.Second)
	defer cancel()
	cl, err := sandbox.Start(startCtx, sandbox.Options{Settings: map[string]string{
		"autovacuum_naptime": "1",
	}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cl.Stop() })
	ctl, err := pgx.Connect(ctx, cl.DSN("postgres"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ctl.Close(context.Background()) })
	v := serverVersionNum(t, ctx, ctl)

	// Every page costs more than the limit, so the worker sleeps 100 ms
	// after each one: vacuuming these ~440 pages takes about a minute,
	// far longer than the test needs it.
	for _, sql := range []string{
		`CREATE TABLE slow_vacuum (i int) WITH (autovacuum_vacuum_cost_delay = 100, autovacuum_vacuum_cost_limit = 1,
            autovacuum_vacuum_threshold = 0, autovacuum_vacuum_scale_factor = 0, autovacuum_analyze_threshold = 2000000000)`,
		`INSERT INTO slow_vacuum SELECT generate_series(1, 100000)`,
		`DELETE FROM slow_vacuum`,
		`CREATE ROLE pgrb_av_plain LOGIN`,
		`CREATE ROLE pgrb_av_member LOGIN`,
		`GRANT pg_read_all_stats TO pgrb_av_plain, pgrb_av_member`,
	} {
		if _, err := ctl.Exec(ctx, sql); err != nil {
			t.Fatalf("%s: %v", sql, err)
		}
	}
	hasAutovacRole := v >= 180000
	if hasAutovacRole {
		if _, err := ctl.Exec(ctx, `GRANT pg_signal_autovacuum_worker TO pgrb_av_member`); err != nil {
			t.Fatal(err)
		}
	}

	var worker int
	for deadline := time.Now().Add(40 * time.Second); ; {
		err := ctl.QueryRow(ctx, `SELECT pid FROM pg_stat_activity
            WHERE backend_type = 'autovacuum worker' AND query LIKE '%slow_vacuum%' LIMIT 1`).Scan(&worker)
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no autovacuum worker vacuums slow_vacuum within 40s: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}

	connectAs := func(role string) *Client {
		c, err := Connect(ctx, Options{DSN: cl.DSN("postgres") + " user=" + role})
		if err != nil {
			t.Fatalf("connect as %s: %v", role, err)
		}
		t.Cleanup(func() { c.Close(context.Background()) })
		return c
	}
	plain, member := connectAs("pgrb_av_plain"), connectAs("pgrb_av_member")
	w := mustRow(t, snapshot(t, ctx, plain), worker, "autovacuum worker")
	if w.Hidden() || w.BackendType != "autovacuum worker" || w.QueryStart.IsZero() {
		t.Fatalf("the autovacuum worker as pg_read_all_stats sees it: %+v", w)
	}
	stillVacuums := func() bool {
		var n int
		if err := ctl.QueryRow(ctx, `SELECT count(*) FROM pg_stat_activity WHERE pid = $1 AND query_start = $2`,
			worker, w.QueryStart).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n == 1
	}

	// Not opted in: never signalled, whatever the role.
	res := signal(t, ctx, member, activity.Cancel, []activity.SignalTarget{target(w, true)})
	wantOutcome(t, "autovacuum worker without the opt-in", res[0], worker, activity.Changed)

	res = signal(t, ctx, plain, activity.Cancel, []activity.SignalTarget{target(w, true)}, "autovacuum worker")
	wantOutcome(t, "autovacuum worker, pg_read_all_stats only", res[0], worker, activity.Denied)
	if hasAutovacRole && !strings.Contains(res[0].Message, "pg_signal_autovacuum_worker") {
		t.Errorf("the denial %q does not name pg_signal_autovacuum_worker", res[0].Message)
	}

	res = signal(t, ctx, member, activity.Cancel, []activity.SignalTarget{target(w, true)}, "autovacuum worker")
	if !hasAutovacRole {
		wantOutcome(t, fmt.Sprintf("autovacuum worker on PostgreSQL %d", v/10000), res[0], worker, activity.Denied)
		if !stillVacuums() {
			t.Error("the autovacuum worker stopped vacuuming although every signal was denied")
		}
		return
	}
	wantOutcome(t, "autovacuum worker, member of pg_signal_autovacuum_worker", res[0], worker, activity.Signalled)
	for deadline := time.Now().Add(20 * time.Second); stillVacuums(); {
		if time.Now().After(deadline) {
			t.Fatal("the autovacuum worker still vacuums 20s after its cancel was signalled")
		}
		time.Sleep(20 * time.Millisecond)
	}
}
