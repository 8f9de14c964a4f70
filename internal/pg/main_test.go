package pg

// Shared helpers of the package's tests. Every test runs against a real
// PostgreSQL server started by pgtest.Main (or PGRUNBOOK_TEST_DSN) and
// stages its sessions in a database of its own, so parallel tests can tell
// their sessions from everyone else's.

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/pgrunbook/pgrunbook/internal/activity"
	"github.com/pgrunbook/pgrunbook/internal/incident"
	"github.com/pgrunbook/pgrunbook/internal/pg/pgtest"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

// longQuery is how long staged queries would run if nobody ended them;
// every one of them is cancelled, terminated or closed long before.
const longQuery = 2 * time.Minute

// missingPID is a pid no process can have (Linux pid_max is at most 2^22).
const missingPID = 2147483647

// testDB is a database of one test: its name, a superuser DSN for it and
// a superuser control connection to it.
type testDB struct {
	name string
	dsn  string
	ctl  *pgx.Conn
}

func newDB(t *testing.T, prefix string) testDB {
	t.Helper()
	name := pgtest.CreateDatabase(t, prefix)
	return testDB{name: name, dsn: pgtest.DSNFor(name), ctl: pgtest.ConnectTo(t, name)}
}

// connectClient opens a Client that is closed when the test ends.
func connectClient(t *testing.T, ctx context.Context, opts Options) *Client {
	t.Helper()
	c, err := Connect(ctx, opts)
	if err != nil {
		t.Fatalf("Connect: %v", err)
	}
	t.Cleanup(func() { c.Close(context.Background()) })
	return c
}

func snapshot(t *testing.T, ctx context.Context, c *Client) *activity.Snapshot {
	t.Helper()
	snap, err := c.Snapshot(ctx)
	if err != nil {
		t.Fatalf("Snapshot: %v", err)
	}
	return snap
}

// row returns the snapshot's row for pid, or nil.
func row(snap *activity.Snapshot, pid int) *activity.Session {
	for i := range snap.Rows {
		if snap.Rows[i].PID == pid {
			return &snap.Rows[i]
		}
	}
	return nil
}

// mustRow returns the snapshot's row for pid and fails the test if there
// is none.
func mustRow(t *testing.T, snap *activity.Snapshot, pid int, what string) *activity.Session {
	t.Helper()
	r := row(snap, pid)
	if r == nil {
		t.Fatalf("snapshot has no row for %s (pid %d)", what, pid)
	}
	return r
}

// rowOfType returns the first row with the given backend_type, or nil.
func rowOfType(snap *activity.Snapshot, backendType string) *activity.Session {
	for i := range snap.Rows {
		if snap.Rows[i].BackendType == backendType {
			return &snap.Rows[i]
		}
	}
	return nil
}

// target builds a signal target from a snapshot row, the way the engine
// does: the row's identity and backend type, with the running statement
// for a cancel.
func target(r *activity.Session, checkQuery bool) activity.SignalTarget {
	return activity.SignalTarget{Identity: r.Identity(), BackendType: r.BackendType, CheckQuery: checkQuery}
}

// signal calls c.Signal and fails the test on an error.
func signal(t *testing.T, ctx context.Context, c *Client, fn activity.Function, targets []activity.SignalTarget, backendTypes ...string) []activity.SignalResult {
	t.Helper()
	res, err := c.Signal(ctx, fn, targets, backendTypes)
	if err != nil {
		t.Fatalf("Signal(%s): %v", fn, err)
	}
	if len(res) != len(targets) {
		t.Fatalf("Signal(%s) returned %d results for %d targets: %+v", fn, len(res), len(targets), res)
	}
	return res
}

// wantSentOnceAfterReconnect checks that Signal, on a connection that the
// test has made unusable, sends nothing and says so (NotSent), and that
// after Reconnect the same cancel of r goes out once.
func wantSentOnceAfterReconnect(t *testing.T, ctx context.Context, c *Client, lq *incident.Session, r *activity.Session) {
	t.Helper()
	res, err := c.Signal(ctx, activity.Cancel, []activity.SignalTarget{target(r, true)}, nil)
	var cl *ConnectionLostError
	if !errors.As(err, &cl) || !cl.NotSent() || res != nil {
		t.Fatalf("Signal on a dead connection: %v, %v; want a ConnectionLostError that says nothing was sent", res, err)
	}
	select {
	case <-lq.Done():
		t.Fatalf("the long query ended (%v) after a signal that was not sent", lq.Err())
	default:
	}
	if err := c.Reconnect(ctx); err != nil {
		t.Fatal(err)
	}
	res = signal(t, ctx, c, activity.Cancel, []activity.SignalTarget{target(r, true)})
	wantOutcome(t, "cancel after reconnecting", res[0], lq.PID, activity.Signalled)
}

// withoutPLpgSQL revokes PL/pgSQL from PUBLIC in db, as some servers do,
// and returns a role that may signal and read every session (but not use
// PL/pgSQL) and an application role to stage sessions as.
func withoutPLpgSQL(t *testing.T, ctx context.Context, db testDB) (signaller, app testRole) {
	t.Helper()
	signaller = createRole(t, ctx, "pg_signal_backend", "pg_read_all_stats")
	if _, err := db.ctl.Exec(ctx, "REVOKE USAGE ON LANGUAGE plpgsql FROM PUBLIC"); err != nil {
		t.Fatal(err)
	}
	return signaller, createRole(t, ctx)
}

// wantOutcome checks one signal result.
func wantOutcome(t *testing.T, what string, got activity.SignalResult, pid int, want activity.Outcome) {
	t.Helper()
	if got.PID != pid || got.Outcome != want {
		t.Errorf("%s: result %+v, want pid %d outcome %q", what, got, pid, want)
	}
}

// stillRunning checks that a staged statement was not ended: its
// background statement is not done and a fresh snapshot shows the same
// statement active.
func stillRunning(t *testing.T, ctx context.Context, c *Client, s *incident.Session, queryStart time.Time) {
	t.Helper()
	select {
	case <-s.Done():
		t.Errorf("%s session (pid %d): statement ended: %v", s.App, s.PID, s.Err())
		return
	default:
	}
	r := mustRow(t, snapshot(t, ctx, c), s.PID, s.App)
	if !r.BackendStart.Equal(s.BackendStart) || r.State != "active" || !r.QueryStart.Equal(queryStart) {
		t.Errorf("%s session (pid %d) changed: state %q backend_start %v query_start %v, want active, %v, %v",
			s.App, s.PID, r.State, r.BackendStart, r.QueryStart, s.BackendStart, queryStart)
	}
}

// sameInts compares int slices, treating nil and empty alike.
func sameInts(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// testRole is a login role created for one test.
type testRole struct {
	name     string
	password string
}

// createRole creates a uniquely named LOGIN role (not a superuser) with
// the given predefined roles granted, and drops it when the test ends. It
// has a password so that it also works against a PGRUNBOOK_TEST_DSN server
// that does not trust local connections.
func createRole(t *testing.T, ctx context.Context, grants ...string) testRole {
	t.Helper()
	r := testRole{name: "pgrb_" + randomHex(6), password: randomHex(12)}
	ctl := pgtest.Connect(t)
	// Names and password are generated hex, not input.
	if _, err := ctl.Exec(ctx, "CREATE ROLE "+r.name+" LOGIN NOSUPERUSER PASSWORD '"+r.password+"'"); err != nil {
		t.Fatalf("create role: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		conn, err := pgx.Connect(ctx, pgtest.DSN())
		if err != nil {
			t.Errorf("drop role %s: %v", r.name, err)
			return
		}
		defer conn.Close(ctx)
		if _, err := conn.Exec(ctx, "DROP ROLE IF EXISTS "+r.name); err != nil {
			t.Errorf("drop role %s: %v", r.name, err)
		}
	})
	for _, g := range grants {
		grant(t, ctx, g, r)
	}
	return r
}

// grant grants a predefined role (a constant of the test) to r.
func grant(t *testing.T, ctx context.Context, predefined string, r testRole) {
	t.Helper()
	ctl := pgtest.Connect(t)
	if _, err := ctl.Exec(ctx, "GRANT "+pgx.Identifier{predefined}.Sanitize()+" TO "+r.name); err != nil {
		t.Fatalf("grant %s to %s: %v", predefined, r.name, err)
	}
}

// dsn returns a connection string for database db as role r.
func (r testRole) dsn(db string) string {
	dsn := pgtest.DSNFor(db)
	for _, scheme := range []string{"postgres://", "postgresql://"} {
		if strings.HasPrefix(strings.ToLower(dsn), scheme) {
			u, err := url.Parse(dsn)
			if err != nil {
				panic(err)
			}
			u.User = url.UserPassword(r.name, r.password)
			return u.String()
		}
	}
	// In a keyword/value string a later setting overrides an earlier one.
	return dsn + " user=" + r.name + " password=" + r.password
}

// asConnectError checks that err is a one-line *ConnectError.
func asConnectError(t *testing.T, err error) *ConnectError {
	t.Helper()
	if err == nil {
		t.Fatal("Connect succeeded, want an error")
	}
	var ce *ConnectError
	if !errors.As(err, &ce) {
		t.Fatalf("error %T %q is not a *ConnectError", err, err)
	}
	if strings.ContainsAny(err.Error(), "\r\n") {
		t.Errorf("error is not one line: %q", err)
	}
	return ce
}
