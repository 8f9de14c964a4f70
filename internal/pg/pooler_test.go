package pg

import (
	"context"
	"errors"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/pgrunbook/pgrunbook/internal/activity"
	"github.com/pgrunbook/pgrunbook/internal/pg/pgtest"
)

// poolClient is an application's connection through a pooler, closed when
// the test ends. It uses the simple query protocol, as a client of a
// transaction pooler must (PgBouncer 1.18 keeps no prepared statements).
func poolClient(t *testing.T, ctx context.Context, dsn, app string) *pgx.Conn {
	t.Helper()
	cfg, err := pgx.ParseConfig(dsn)
	if err != nil {
		t.Fatal(err)
	}
	cfg.DefaultQueryExecMode = pgx.QueryExecModeSimpleProtocol
	cfg.RuntimeParams["application_name"] = app
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		t.Fatalf("connect %s through the pooler: %v", app, err)
	}
	t.Cleanup(func() { closeQuietly(context.Background(), conn) })
	return conn
}

func localPort(t *testing.T, conn *pgx.Conn) int {
	t.Helper()
	addr, ok := conn.PgConn().Conn().LocalAddr().(*net.TCPAddr)
	if !ok {
		t.Fatalf("local address %v is not TCP", conn.PgConn().Conn().LocalAddr())
	}
	return addr.Port
}

// The user's report: a stock PgBouncer refused pgrunbook's startup
// parameters; with them ignored, pgrunbook printed the pooler's pid as its
// own and its settings silently did not apply. Through session pooling it
// now connects, records the server's pid, and its settings hold.
func TestConnectThroughSessionPooler(t *testing.T) {
	t.Parallel()
	ctx := pgtest.Context(t)
	db := newDB(t, "pg_pooler_session")
	b := pgtest.StartPgBouncer(t, pgtest.PgBouncerOptions{PoolMode: pgtest.SessionPooling})
	c := connectClient(t, ctx, Options{DSN: b.DSN(db.name), StatementTimeout: 7 * time.Second})
	info := c.Info()
	p := info.Pooler
	if p == nil {
		t.Fatalf("Info().Pooler is nil through %s", b.Addr())
	}
	if p.PoolMode != ModeSession || p.Addr != b.Addr() || !strings.HasPrefix(p.Name, "PgBouncer ") || p.Evidence == "" {
		t.Errorf("Pooler = %+v, want PgBouncer in session mode at %s with evidence", *p, b.Addr())
	}
	var serverPID int
	err := db.ctl.QueryRow(ctx, "SELECT pid FROM pg_stat_activity WHERE datname = $1 AND application_name = $2", db.name, ApplicationName).Scan(&serverPID)
	if err != nil {
		t.Fatalf("pgrunbook's backend: %v", err)
	}
	if info.PID != serverPID || p.ProtocolPID == serverPID {
		t.Errorf("Info().PID = %d, protocol pid %d; the server's pid is %d", info.PID, p.ProtocolPID, serverPID)
	}
	for name, want := range map[string]string{
		"application_name":                    ApplicationName,
		"statement_timeout":                   "7s",
		"lock_timeout":                        "2s",
		"idle_in_transaction_session_timeout": "1min",
		"default_transaction_read_only":       "on",
	} {
		if got := info.Settings[name]; got != want {
			t.Errorf("Settings[%s] = %q, want %q", name, got, want)
		}
		if got := show(t, ctx, c, name); got != want {
			t.Errorf("%s on the pooled session = %q, want %q", name, got, want)
		}
	}
	snap := snapshot(t, ctx, c)
	if self := mustRow(t, snap, serverPID, "pgrunbook's own backend"); !self.IsSelf {
		t.Errorf("own backend %d not marked is_self", serverPID)
	}
	for _, r := range snap.Rows {
		if r.IsSelf && r.PID != serverPID {
			t.Errorf("pid %d marked is_self, want only %d", r.PID, serverPID)
		}
	}
}

// A startup parameter the pooler does not track, given in the DSN, is
// explained in one line, not passed on as a raw protocol error.
func TestConnectExplainsAStartupParameterThePoolerRefuses(t *testing.T) {
	t.Parallel()
	ctx := pgtest.Context(t)
	b := pgtest.StartPgBouncer(t, pgtest.PgBouncerOptions{})
	_, err := Connect(ctx, Options{DSN: b.DSN("postgres") + " search_path=public"})
	ce := asConnectError(t, err)
	if SQLState(err) != "08P01" || !strings.Contains(ce.Reason, "ignore_startup_parameters") || strings.Contains(err.Error(), "SQLSTATE") {
		t.Errorf("error %q (SQLSTATE %s) does not explain the refused startup parameter", err, SQLState(err))
	}
}

func TestConnectRefusesTransactionAndStatementPooling(t *testing.T) {
	t.Parallel()
	noConsole := map[string]string{"admin_users": "nobody", "stats_users": "nobody"}
	for _, tc := range []struct {
		name     string
		mode     string
		size     int
		settings map[string]string
		wantMode string
	}{
		{"transaction_pool_of_1", pgtest.TransactionPooling, 1, nil, ModeTransaction},
		{"transaction_without_console", pgtest.TransactionPooling, 3, noConsole, ModeTransactionOrStatement},
		{"statement", pgtest.StatementPooling, 2, nil, ModeStatement},
		{"statement_without_console", pgtest.StatementPooling, 2, noConsole, ModeTransactionOrStatement},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ctx := pgtest.Context(t)
			db := newDB(t, "pg_pooler_refuse")
			b := pgtest.StartPgBouncer(t, pgtest.PgBouncerOptions{PoolMode: tc.mode, DefaultPoolSize: tc.size, Settings: tc.settings})
			c, err := Connect(ctx, Options{DSN: b.DSN(db.name)})
			if err == nil {
				c.Close(ctx)
				t.Fatalf("Connect through %s pooling succeeded, want a refusal", tc.mode)
			}
			var refused *PoolingRefusedError
			if !errors.As(err, &refused) {
				t.Fatalf("error %v (%T), want *PoolingRefusedError", err, err)
			}
			p := refused.Pooler
			if p.PoolMode != tc.wantMode || p.Addr != b.Addr() {
				t.Errorf("Pooler = %+v, want mode %q at %s", p, tc.wantMode, b.Addr())
			}
			if (tc.settings == nil) != strings.HasPrefix(p.Name, "PgBouncer ") {
				t.Errorf("Name = %q (console reachable: %v)", p.Name, tc.settings == nil)
			}
			msg := err.Error()
			if strings.Contains(msg, "\n") || !strings.Contains(msg, b.Addr()) || !strings.Contains(msg, "directly") {
				t.Errorf("refusal is not one line naming %s and asking for a direct connection: %q", b.Addr(), msg)
			}
			if SQLState(err) != "" {
				t.Errorf("refusal carries a protocol error: %v", err)
			}
		})
	}
}

// A cancel aimed at one client's statement must never reach the next
// client that the pooler puts on the same backend: the signalling
// statement checks query_start.
func TestCancelThroughTransactionPoolNeverHitsNextClient(t *testing.T) {
	t.Parallel()
	ctx := pgtest.Context(t)
	db := newDB(t, "pg_pooler_cancel")
	b := pgtest.StartPgBouncer(t, pgtest.PgBouncerOptions{PoolMode: pgtest.TransactionPooling, DefaultPoolSize: 1})
	c := connectClient(t, ctx, Options{DSN: db.dsn})
	clientA := poolClient(t, ctx, b.DSN(db.name), "client_a")
	clientB := poolClient(t, ctx, b.DSN(db.name), "client_b")
	if _, err := db.ctl.Exec(ctx, "SELECT pg_advisory_lock(1), pg_advisory_lock(2)"); err != nil {
		t.Fatal(err)
	}
	run := func(conn *pgx.Conn, sql string) <-chan error {
		done := make(chan error, 1)
		go func() { _, err := conn.Exec(ctx, sql); done <- err }()
		return done
	}
	aDone := run(clientA, "SELECT pg_advisory_xact_lock(1) /* client A */")
	a := waitForQuery(t, ctx, c, db.name, "client A")

	bDone := run(clientB, "SELECT pg_advisory_xact_lock(2) /* client B */")
	// B waits in the pooler for the only server connection, A's.
	if _, err := db.ctl.Exec(ctx, "SELECT pg_advisory_unlock(1)"); err != nil {
		t.Fatal(err)
	}
	if err := <-aDone; err != nil {
		t.Fatalf("client A's statement: %v", err)
	}
	bRow := waitForQuery(t, ctx, c, db.name, "client B")
	if bRow.PID != a.PID || !bRow.BackendStart.Equal(a.BackendStart) || bRow.QueryStart.Equal(a.QueryStart) {
		t.Fatalf("client B runs on pid %d (start %v, query_start %v), want A's backend %d (start %v) with a new statement",
			bRow.PID, bRow.BackendStart, bRow.QueryStart, a.PID, a.BackendStart)
	}

	res, err := c.Signal(ctx, activity.Cancel, []activity.SignalTarget{target(&a, true)}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(res) != 1 || res[0].Outcome != activity.Changed {
		t.Errorf("cancel of client A's finished statement: %+v, want changed", res)
	}
	if _, err := db.ctl.Exec(ctx, "SELECT pg_advisory_unlock(2)"); err != nil {
		t.Fatal(err)
	}
	if err := <-bDone; err != nil {
		t.Errorf("client B's statement did not finish normally: %v (SQLSTATE %s)", err, SQLState(err))
	}
}

// waitForQuery polls snapshots until a backend of database dbname runs a
// statement containing marker, and returns its row.
func waitForQuery(t *testing.T, ctx context.Context, c *Client, dbname, marker string) activity.Session {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		snap := snapshot(t, ctx, c)
		for _, r := range snap.Rows {
			if r.Datname == dbname && r.State == "active" && strings.Contains(r.Query, marker) {
				return r
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no backend of %s runs %q", dbname, marker)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestSnapshotMapsPooledBackendsToClients(t *testing.T) {
	t.Parallel()
	ctx := pgtest.Context(t)
	db := newDB(t, "pg_pooler_map")
	b := pgtest.StartPgBouncer(t, pgtest.PgBouncerOptions{PoolMode: pgtest.TransactionPooling, DefaultPoolSize: 2})
	c := connectClient(t, ctx, Options{DSN: db.dsn, PoolerDSN: b.AdminDSN()})
	if ci := c.Info().Console; ci == nil || ci.Addr != b.Addr() || !strings.HasPrefix(ci.Version, "PgBouncer ") {
		t.Errorf("Info().Console = %+v", ci)
	}
	alpha := poolClient(t, ctx, b.DSN(db.name), "alpha")
	beta := poolClient(t, ctx, b.DSN(db.name), "beta")
	if _, err := alpha.Exec(ctx, "BEGIN"); err != nil {
		t.Fatal(err)
	}
	if _, err := alpha.Exec(ctx, "SELECT 'alpha holds its server'"); err != nil {
		t.Fatal(err)
	}
	// beta's statement needs the second server connection, which then
	// stays in the pool, linked to nobody.
	if _, err := beta.Exec(ctx, "SELECT 1"); err != nil {
		t.Fatal(err)
	}
	snap := snapshot(t, ctx, c)
	var linked, idle int
	direct := map[int]bool{c.Info().PID: true, int(db.ctl.PgConn().PID()): true}
	for _, r := range snap.Rows {
		if r.Datname != db.name || direct[r.PID] {
			continue
		}
		if !r.ViaPooler || r.PoolMode != ModeTransaction || !strings.Contains(r.PoolerReason, "SHOW SERVERS") {
			t.Errorf("pooled backend %d: via_pooler %v, pool_mode %q, reason %q", r.PID, r.ViaPooler, r.PoolMode, r.PoolerReason)
		}
		switch {
		case r.State == "idle in transaction":
			linked++
			if r.PoolerClientAddr != "127.0.0.1" || r.PoolerClientPort != localPort(t, alpha) || r.PoolerClientApp != "alpha" || r.PoolerClientConnected.IsZero() {
				t.Errorf("alpha's backend %d is linked to %s:%d (%s, since %v), want alpha at 127.0.0.1:%d",
					r.PID, r.PoolerClientAddr, r.PoolerClientPort, r.PoolerClientApp, r.PoolerClientConnected, localPort(t, alpha))
			}
		case r.PoolerLinked():
			t.Errorf("idle pooled backend %d (%s) is linked to %s:%d", r.PID, r.State, r.PoolerClientAddr, r.PoolerClientPort)
		default:
			idle++
			if !strings.Contains(r.PoolerReason, "no client") {
				t.Errorf("idle pooled backend %d: reason %q does not say it serves no client", r.PID, r.PoolerReason)
			}
		}
	}
	if linked != 1 || idle < 1 {
		t.Errorf("%d linked and %d idle pooled backends of %s, want 1 and at least 1", linked, idle, db.name)
	}
	if self := row(snap, c.Info().PID); self == nil || self.ViaPooler {
		t.Errorf("pgrunbook's direct backend %+v is marked as pooled", self)
	}
}

func TestMarkRowsByApplicationName(t *testing.T) {
	rows := []activity.Session{
		{PID: 1, BackendType: activity.ClientBackend, ApplicationName: "pgbouncer"},
		{PID: 2, BackendType: activity.ClientBackend, ApplicationName: "Supavisor"},
		{PID: 3, BackendType: activity.ClientBackend, ApplicationName: "psql - 10.0.0.7:51234"},
		{PID: 4, BackendType: activity.ClientBackend, ApplicationName: "psql"},
		{PID: 5, BackendType: "walsender", ApplicationName: "pgbouncer"},
		{PID: 6, BackendType: activity.ClientBackend, ApplicationName: "pgcat"},
		{PID: 7, BackendType: activity.ClientBackend, ApplicationName: "report - nightly"},
	}
	markRows(rows, nil, "the --pooler console could not be read")
	want := map[int]bool{1: true, 2: true, 3: true, 6: true}
	for _, r := range rows {
		if r.ViaPooler != want[r.PID] {
			t.Errorf("pid %d (%q, %s): via_pooler %v, want %v", r.PID, r.ApplicationName, r.BackendType, r.ViaPooler, want[r.PID])
		}
		if r.ViaPooler && !strings.Contains(r.PoolerReason, "console could not be read") {
			t.Errorf("pid %d: reason %q does not carry the console problem", r.PID, r.PoolerReason)
		}
		if r.PoolerLinked() || r.PoolMode != "" {
			t.Errorf("pid %d: a client or pool mode without a console", r.PID)
		}
	}
	if !strings.Contains(rows[2].PoolerReason, "10.0.0.7:51234") {
		t.Errorf("add_host reason %q does not name the client", rows[2].PoolerReason)
	}
}

func TestSettingsThatDidNotHold(t *testing.T) {
	want := sessionSettings(10*time.Second, 2*time.Second)
	applied := []string{"pgrunbook", "10s", "2s", "1min", "on"}
	if w := settingsThatDidNotHold(want, applied, applied, "on"); len(w) != 0 {
		t.Errorf("all held, but: %v", w)
	}
	reset := []string{"pgrunbook", "0", "2s", "1min", "off"}
	w := settingsThatDidNotHold(want, applied, reset, "off")
	if len(w) != 3 || !strings.Contains(w[0], "statement_timeout") || !strings.Contains(w[1], "default_transaction_read_only") {
		t.Errorf("reset statement_timeout and read-only: %v", w)
	}
}

// After its pooled server session is terminated, pgrunbook reconnects
// through the pooler and again records the server's pid, not the
// pooler's stand-in.
func TestReconnectThroughSessionPoolerRecordsServerPID(t *testing.T) {
	t.Parallel()
	ctx := pgtest.Context(t)
	db := newDB(t, "pg_pooler_reconnect")
	b := pgtest.StartPgBouncer(t, pgtest.PgBouncerOptions{PoolMode: pgtest.SessionPooling})
	c := connectClient(t, ctx, Options{DSN: b.DSN(db.name)})
	first := c.Info().PID
	if _, err := db.ctl.Exec(ctx, "SELECT pg_terminate_backend($1)", first); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		_, err := c.Snapshot(ctx)
		var lost *ConnectionLostError
		if errors.As(err, &lost) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no ConnectionLostError after the backend was terminated (last error %v)", err)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err := c.Reconnect(ctx); err != nil {
		t.Fatal(err)
	}
	info := c.Info()
	if info.PID == first || info.Pooler == nil || info.PID == info.Pooler.ProtocolPID {
		t.Fatalf("after reconnecting: pid %d (was %d), pooler %+v", info.PID, first, info.Pooler)
	}
	snap := snapshot(t, ctx, c)
	if self := mustRow(t, snap, info.PID, "pgrunbook's new backend"); !self.IsSelf || self.ApplicationName != ApplicationName {
		t.Errorf("new backend %d: is_self %v, application_name %q", info.PID, self.IsSelf, self.ApplicationName)
	}
	if got := show(t, ctx, c, "default_transaction_read_only"); got != "on" {
		t.Errorf("default_transaction_read_only after reconnecting = %q", got)
	}
}
