package incident

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/pgrunbook/pgrunbook/internal/pg/pgtest"
)

// TestLockQueueBehindDDL stages the lock queue of the ddl-lock-queue
// scenario and checks it in pg_locks: the dump holds AccessShareLock, the
// ALTER waits for AccessExclusiveLock behind it, four reads wait behind
// the ALTER. Cancelling the ALTER drains the queue and leaves the dump
// running.
func TestLockQueueBehindDDL(t *testing.T) {
	t.Parallel()
	ctx := pgtest.Context(t)
	dsn, ctl := newDB(t)
	if err := CreateLockTable(ctx, dsn, "stock", 1); err != nil {
		t.Fatal(err)
	}
	dump, err := Dump(ctx, dsn, "pg_dump", "stock", time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(dump.Close)
	if !strings.HasPrefix(dump.Query, "COPY (SELECT") || !strings.HasSuffix(dump.Query, "TO STDOUT") {
		t.Errorf("dump query %q, want a COPY ... TO STDOUT", dump.Query)
	}
	var xmin string
	if err := ctl.QueryRow(ctx, "SELECT coalesce(backend_xmin::text, '') FROM pg_stat_activity WHERE pid = $1", dump.PID).Scan(&xmin); err != nil || xmin == "" {
		t.Errorf("the dump holds no snapshot: backend_xmin %q, %v", xmin, err)
	}

	alter, err := AlterAddColumn(ctx, dsn, "migrate", "stock", "note")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(alter.Close)
	if alter.Query != `ALTER TABLE "stock" ADD COLUMN "note" text` {
		t.Errorf("alter query %q", alter.Query)
	}
	var readers []*Session
	for i := range 4 {
		r, err := Reader(ctx, dsn, fmt.Sprintf("storefront-%d", i+1), "stock")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(r.Close)
		readers = append(readers, r)
	}

	locks, err := RelationLocks(ctx, dsn, "stock")
	if err != nil {
		t.Fatal(err)
	}
	want := []RelationLock{{dump.PID, "AccessShareLock", true}, {alter.PID, "AccessExclusiveLock", false}}
	for _, r := range readers {
		want = append(want, RelationLock{r.PID, "AccessShareLock", false})
	}
	if !slices.Equal(locks, want) {
		t.Fatalf("pg_locks on stock:\n  got  %s\n  want %s", LockQueue(locks), LockQueue(want))
	}
	blockers := func(pid int) []int {
		t.Helper()
		var pids []int
		if err := ctl.QueryRow(ctx, "SELECT pg_blocking_pids($1)", pid).Scan(&pids); err != nil {
			t.Fatal(err)
		}
		return pids
	}
	if got := blockers(alter.PID); !slices.Equal(got, []int{dump.PID}) {
		t.Errorf("the ALTER is blocked by %v, want the dump %d", got, dump.PID)
	}
	for _, r := range readers {
		if got := blockers(r.PID); !slices.Equal(got, []int{alter.PID}) {
			t.Errorf("read %d is blocked by %v, want only the ALTER %d (a soft block: the dump's lock does not conflict)", r.PID, got, alter.PID)
		}
	}

	// What the expert does: cancel the ALTER.
	signalBackend(t, ctl, "pg_cancel_backend", alter.PID)
	pgtest.WaitDone(t, alter, alter.App)
	if got := sqlstate(alter.Err()); got != "57014" {
		t.Fatalf("ALTER ended with %v (SQLSTATE %q), want 57014", alter.Err(), got)
	}
	for _, r := range readers {
		pgtest.WaitDone(t, r, r.App)
		if r.Err() != nil {
			t.Errorf("read %d failed: %v", r.PID, r.Err())
		}
	}
	if exists, err := ColumnExists(ctx, dsn, "stock", "note"); err != nil || exists {
		t.Errorf("column note exists: %v, %v; want it absent after the cancel", exists, err)
	}
	if exists, err := ColumnExists(ctx, dsn, "stock", "n"); err != nil || !exists {
		t.Errorf("ColumnExists(stock, n) = %v, %v; want true", exists, err)
	}
	if !alter.Alive(ctx) {
		t.Error("the ALTER's session did not survive its cancel")
	}
	select {
	case <-dump.Done():
		t.Fatalf("the dump ended: %v", dump.Err())
	default:
	}
	if locks, err := RelationLocks(ctx, dsn, "stock"); err != nil || !slices.Equal(locks, want[:1]) {
		t.Errorf("pg_locks on stock after the cancel: %s (%v), want only the dump's", LockQueue(locks), err)
	}

	// A cancelled COPY aborts the dump's transaction, which frees the lock.
	signalBackend(t, ctl, "pg_cancel_backend", dump.PID)
	pgtest.WaitDone(t, dump, dump.App)
	if got := sqlstate(dump.Err()); got != "57014" {
		t.Errorf("dump ended with %v, want 57014", dump.Err())
	}
	if locks, err := RelationLocks(context.Background(), dsn, "stock"); err != nil || len(locks) != 0 {
		t.Errorf("pg_locks on stock after the dump's cancel: %s (%v), want none", LockQueue(locks), err)
	}
}
