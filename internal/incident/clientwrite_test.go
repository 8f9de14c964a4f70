//go:build unix

package incident

import (
	"slices"
	"testing"
	"time"

	"github.com/pgrunbook/pgrunbook/internal/pg/pgtest"
)

// TestClientNotReading stages a backend blocked on ClientWrite and shows
// what the scenario is for: pg_cancel_backend leaves it blocked, while
// pg_terminate_backend ends it.
func TestClientNotReading(t *testing.T) {
	t.Parallel()
	ctx := pgtest.Context(t)
	dsn, ctl := newDB(t)

	c, err := ClientNotReading(ctx, dsn, "it-not-reading")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	if c.PID == 0 || c.BackendStart.IsZero() || c.Query != ClientNotReadingSQL {
		t.Fatalf("unexpected client %+v", c)
	}
	waitEvent := func() string {
		t.Helper()
		var ev string
		err := ctl.QueryRow(ctx, "SELECT coalesce(state, '') || '/' || coalesce(wait_event, '') FROM pg_stat_activity WHERE pid = $1", c.PID).Scan(&ev)
		if err != nil {
			return "gone"
		}
		return ev
	}
	if got := waitEvent(); got != "active/ClientWrite" {
		t.Fatalf("state/wait_event = %q, want active/ClientWrite", got)
	}

	signalBackend(t, ctl, "pg_cancel_backend", c.PID)
	// The cancel stays pending while the backend is blocked writing:
	// watched for a second, it never takes effect.
	staysFor(t, time.Second, func() string {
		if got := waitEvent(); got != "active/ClientWrite" {
			return "after pg_cancel_backend: state/wait_event = " + got + ", want active/ClientWrite still"
		}
		return ""
	})

	signalBackend(t, ctl, "pg_terminate_backend", c.PID)
	pgtest.WaitGone(t, ctx, ctl, c.PID)
	c.Close()
	c.Close() // idempotent
}

// TestClientBackendsAndCounter checks the inspection helpers on a small
// lock chain.
func TestClientBackendsAndCounter(t *testing.T) {
	t.Parallel()
	ctx := pgtest.Context(t)
	dsn, _ := newDB(t)
	if err := CreateLockTable(ctx, dsn, "chain", 1); err != nil {
		t.Fatal(err)
	}
	root, err := IdleInTransaction(ctx, dsn, "it-root", "chain", 1)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(root.Close)
	w, err := Writer(ctx, dsn, "it-waiter", "chain", 1)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(w.Close)

	bs, err := ClientBackends(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	byPID := map[int]Backend{}
	for _, b := range bs {
		byPID[b.PID] = b
		if b.ApplicationName == ProbeApp {
			t.Errorf("a probe connection is listed: %+v", b)
		}
	}
	if b := byPID[root.PID]; b.State != "idle in transaction" || !b.BackendStart.Equal(root.BackendStart) || len(b.BlockedBy) != 0 {
		t.Errorf("root %+v", b)
	}
	if b := byPID[w.PID]; b.WaitEventType != "Lock" || !slices.Contains(b.BlockedBy, root.PID) || b.QueryStart.IsZero() {
		t.Errorf("waiter %+v, want blocked by %d", b, root.PID)
	}

	root.Close()
	pgtest.WaitDone(t, w, w.App)
	if n, err := Counter(ctx, dsn, "chain", 1); err != nil || n != 1 {
		t.Errorf("Counter = %d, %v; want 1 (the waiter's update)", n, err)
	}
}
