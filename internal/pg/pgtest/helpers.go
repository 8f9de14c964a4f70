package pgtest

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// Bounds of the helpers below.
const (
	// TestTimeout bounds one test's database work (Context).
	TestTimeout = 45 * time.Second
	// WaitTimeout bounds WaitDone, and WaitGone when its ctx has no
	// deadline.
	WaitTimeout = 30 * time.Second
	// pollInterval is how often WaitGone looks.
	pollInterval = 10 * time.Millisecond
)

// Context returns a context that bounds one test's database work by
// TestTimeout and is cancelled when the test ends.
func Context(t testing.TB) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), TestTimeout)
	t.Cleanup(cancel)
	return ctx
}

// Staged returns a function that takes what a staging constructor returns
// (internal/incident's LongQuery, Idle, ...), fails the test on error and
// closes the session when the test ends:
//
//	s := pgtest.Staged[*incident.Session](t)(incident.LongQuery(ctx, dsn, app, d))
func Staged[S interface{ Close() }](t testing.TB) func(S, error) S {
	return func(s S, err error) S {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(s.Close)
		return s
	}
}

// Background is a staged session whose statement runs in the background.
type Background interface {
	// Done is closed when the statement has ended.
	Done() <-chan struct{}
}

// WaitDone waits, at most WaitTimeout, for s's background statement to
// end; what names s in the failure.
func WaitDone(t testing.TB, s Background, what string) {
	t.Helper()
	timer := time.NewTimer(WaitTimeout)
	defer timer.Stop()
	select {
	case <-s.Done():
	case <-timer.C:
		t.Fatalf("%s: statement still running after %s", what, WaitTimeout)
	}
}

// WaitGone polls pg_stat_activity through ctl until pid has left it,
// bounded by ctx (by WaitTimeout when ctx has no deadline).
func WaitGone(t testing.TB, ctx context.Context, ctl *pgx.Conn, pid int) {
	t.Helper()
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, WaitTimeout)
		defer cancel()
	}
	ticker := time.NewTicker(pollInterval)
	defer ticker.Stop()
	for {
		var n int
		if err := ctl.QueryRow(ctx, "SELECT count(*) FROM pg_stat_activity WHERE pid = $1", pid).Scan(&n); err != nil {
			t.Fatalf("waiting for pid %d to leave pg_stat_activity: %v", pid, err)
		}
		if n == 0 {
			return
		}
		select {
		case <-ctx.Done():
			t.Fatalf("pid %d still in pg_stat_activity: %v", pid, ctx.Err())
		case <-ticker.C:
		}
	}
}

// AwaitQueryRuntime polls pg_stat_activity on dsn until the statement of
// each backend in pids has run for at least d by the server's clock
// (clock_timestamp() - query_start), bounded by ctx (by WaitTimeout when
// ctx has no deadline). It replaces sleeping for d before a check that
// needs statements older than a threshold.
func AwaitQueryRuntime(t testing.TB, ctx context.Context, dsn string, d time.Duration, pids ...int) {
	t.Helper()
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, WaitTimeout)
		defer cancel()
	}
	// Closed on return, so no extra session is left beside the test's.
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatalf("pgtest: connect: %v", err)
	}
	defer conn.Close(context.Background())
	ticker := time.NewTicker(pollInterval)
	defer ticker.Stop()
	for {
		var old int
		err := conn.QueryRow(ctx, `SELECT count(*) FROM pg_stat_activity
WHERE pid = ANY($1) AND clock_timestamp() - query_start >= $2`, pids, d).Scan(&old)
		if err != nil {
			t.Fatalf("waiting for statements of pids %v to run %s: %v", pids, d, err)
		}
		if old == len(pids) {
			return
		}
		select {
		case <-ctx.Done():
			t.Fatalf("%d of the statements of pids %v have run %s: %v", old, pids, d, ctx.Err())
		case <-ticker.C:
		}
	}
}
