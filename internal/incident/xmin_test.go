package incident

import (
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/pgrunbook/pgrunbook/internal/pg/pgtest"
)

// TestSnapshotHolderPinsTheHorizon: an idle REPEATABLE READ transaction
// that has read keeps its backend_xmin while other transactions commit,
// XminHolders names it, cancel changes nothing, and once it is
// terminated nothing holds that xmin any more.
func TestSnapshotHolderPinsTheHorizon(t *testing.T) {
	t.Parallel()
	ctx := pgtest.Context(t)
	dsn, ctl := newDB(t)
	if err := CreateLockTable(ctx, dsn, "stock", 1); err != nil {
		t.Fatal(err)
	}
	holder, xmin, err := SnapshotHolder(ctx, dsn, "analytics", "stock")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(holder.Close)
	if _, err := strconv.ParseUint(xmin, 10, 32); err != nil {
		t.Fatalf("xmin %q is not a transaction id", xmin)
	}
	if st := state(t, ctl, holder.PID); st != "idle in transaction" {
		t.Fatalf("holder state %q", st)
	}
	backends, err := ClientBackends(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	for _, b := range backends {
		if b.PID == holder.PID && b.BackendXmin != xmin {
			t.Errorf("ClientBackends shows the holder with backend_xmin %q, want %s", b.BackendXmin, xmin)
		}
	}
	// Transactions that commit after it started do not move its xmin.
	for range 5 {
		if _, err := ctl.Exec(ctx, "UPDATE stock SET n = n + 1 WHERE id = 1"); err != nil {
			t.Fatal(err)
		}
	}
	signalBackend(t, ctl, "pg_cancel_backend", holder.PID)
	if now, err := BackendXmin(ctx, dsn, holder.PID); err != nil || now != xmin {
		t.Errorf("backend_xmin after five commits and a cancel: %q (%v), want %s still", now, err, xmin)
	}
	holders, err := XminHolders(ctx, dsn, xmin)
	if err != nil {
		t.Fatal(err)
	}
	want := XminHolder{Kind: "session", Name: strconv.Itoa(holder.PID), App: "analytics", Xid: xmin}
	if !slices.Contains(holders, want) {
		t.Errorf("XminHolders(%s) = %v, want %v among them", xmin, holders, want)
	}

	signalBackend(t, ctl, "pg_terminate_backend", holder.PID)
	pgtest.WaitGone(t, ctx, ctl, holder.PID)
	deadline := time.Now().Add(10 * time.Second)
	for {
		holders, err := XminHolders(ctx, dsn, xmin)
		if err == nil && len(holders) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("XminHolders(%s) after the holder was terminated: %v, %v; want none", xmin, holders, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
