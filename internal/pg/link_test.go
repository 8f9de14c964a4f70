package pg

import (
	"context"
	"errors"
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pgrunbook/pgrunbook/internal/activity"
	"github.com/pgrunbook/pgrunbook/internal/pg/pgtest"
)

// wantNoAnswer checks that err is a lost connection that the statement
// bound ended, not the test's own deadline.
func wantNoAnswer(t *testing.T, ctx context.Context, what string, err error) {
	t.Helper()
	var lost *ConnectionLostError
	var none *noAnswerError
	switch {
	case ctx.Err() != nil:
		t.Fatalf("%s: still waiting when the test's deadline ended it: %v", what, err)
	case !errors.As(err, &lost) || !errors.As(err, &none):
		t.Fatalf("%s on a dead link: %v (%T), want a lost connection with no answer within the bound", what, err, err)
	}
	if !strings.Contains(err.Error(), "no answer from the server within") {
		t.Errorf("%s: the error does not say why: %v", what, err)
	}
}

// TestDeadLinkEndsEveryStatement: once the network stops carrying packets
// (nothing closes), a statement ends by itself at its bound, statement
// timeout plus StatementGrace, as a lost connection: a statement already
// prepared on the connection, a statement on its first use (prepared in
// the same round trip), and the signalling statement that the engine runs
// without a cancellable context. A reconnection attempt through the dead
// link ends at the connect timeout; once the link is back, it succeeds.
func TestDeadLinkEndsEveryStatement(t *testing.T) {
	t.Parallel()
	ctx := pgtest.Context(t)
	db := newDB(t, "pg_link_dead")
	hole := pgtest.StartBlackHole(t, db.dsn)
	dsn := hole.DSN(t, db.dsn) + " connect_timeout=2"
	if strings.Contains(dsn, "://") {
		t.Fatalf("this test needs a keyword/value DSN, got a URI")
	}
	opts := Options{DSN: dsn, StatementTimeout: 300 * time.Millisecond}
	polled := connectClient(t, ctx, opts)
	signaller := connectClient(t, ctx, opts)
	snapshot(t, ctx, polled) // prepared now

	hole.Cut()
	_, err := polled.Snapshot(ctx)
	wantNoAnswer(t, ctx, "a prepared snapshot", err)
	_, err = signaller.Signal(context.WithoutCancel(ctx), activity.Cancel,
		[]activity.SignalTarget{{Identity: activity.Identity{PID: missingPID, BackendStart: time.Now()}}}, nil)
	wantNoAnswer(t, ctx, "a first signal", err)

	if err := polled.Reconnect(ctx); err == nil || ctx.Err() != nil {
		t.Fatalf("Reconnect through a dead link: %v (test context: %v), want a failure at the connect timeout", err, ctx.Err())
	}
	hole.Restore()
	if err := polled.Reconnect(ctx); err != nil {
		t.Fatalf("Reconnect once the link is back: %v", err)
	}
	if snap := snapshot(t, ctx, polled); row(snap, polled.Info().PID) == nil {
		t.Error("the snapshot on the new connection does not show pgrunbook's new backend")
	}
}

// TestUnixSocketsAreLeftAlone: pgrunbook's dialer connects to a
// Unix-domain socket (no TCP option is applied to it).
func TestUnixSocketsAreLeftAlone(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "s")
	ln, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		if c, err := ln.Accept(); err == nil {
			c.Close()
		}
	}()
	l := &link{statementTimeout: DefaultStatementTimeout, connectTimeout: time.Second}
	c, err := l.dialer().DialContext(context.Background(), "unix", path)
	if err != nil {
		t.Fatalf("dialing a Unix-domain socket: %v", err)
	}
	c.Close()
}

// TestLinkDefaults pins the documented bounds derived from the default
// statement timeout of 10s.
func TestLinkDefaults(t *testing.T) {
	l := &link{statementTimeout: DefaultStatementTimeout}
	ka := l.keepAlive()
	if l.statementBound() != 12*time.Second || l.userTimeout() != 12*time.Second ||
		!ka.Enable || ka.Idle != 3*time.Second || ka.Interval != 3*time.Second || ka.Count != 3 {
		t.Errorf("bound %v, user timeout %v, keepalive %+v; want 12s, 12s, every 3s, 3 probes", l.statementBound(), l.userTimeout(), ka)
	}
	short := &link{statementTimeout: 100 * time.Millisecond}
	if ka := short.keepAlive(); ka.Idle != time.Second || ka.Interval != time.Second {
		t.Errorf("keepalive for a 100ms statement timeout %+v, want at least every second", ka)
	}
}
