package pg

import (
	"context"
	"encoding/json"
	"slices"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/pgrunbook/pgrunbook/internal/activity"
	"github.com/pgrunbook/pgrunbook/internal/incident"
	"github.com/pgrunbook/pgrunbook/internal/pg/pgtest"
)

// The lock queue behind DDL (incident catalogue §1): a backup's
// REPEATABLE READ transaction holds AccessShareLock on a table, an ALTER
// TABLE waits for AccessExclusiveLock behind it, and two readers queue
// behind the ALTER. The snapshot must name the ALTER's request, the
// backup as its hard blocker, the ALTER as the readers' soft blocker, and
// the backup's tree.
func TestSnapshotLockQueueBehindDDL(t *testing.T) {
	t.Parallel()
	ctx := pgtest.Context(t)
	db := newDB(t, "pg_facts_ddl")
	for _, q := range []string{
		"CREATE TABLE orders (id int PRIMARY KEY, total int)",
		"INSERT INTO orders SELECT g, g FROM generate_series(1, 10) AS g",
	} {
		if _, err := db.ctl.Exec(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	backup := openSession(t, ctx, db.dsn, "pg_dump", "BEGIN ISOLATION LEVEL REPEATABLE READ", "SELECT count(*) FROM orders")
	alter := openSession(t, ctx, db.dsn, "pgrb-migrate")
	alter.start("ALTER TABLE orders ADD COLUMN note text")
	awaitActive(t, ctx, db.ctl, alter, "Lock")
	var readers []*rawSession
	for range 2 {
		r := openSession(t, ctx, db.dsn, "pgrb-reader")
		r.start("SELECT count(*) FROM orders")
		awaitActive(t, ctx, db.ctl, r, "Lock")
		readers = append(readers, r)
	}
	bystander := openSession(t, ctx, db.dsn, "pgrb-bystander")
	c := connectClient(t, ctx, Options{DSN: db.dsn})

	snap := snapshot(t, ctx, c)
	a := mustRow(t, snap, alter.pid, "the ALTER")
	b := mustRow(t, snap, backup.pid, "the backup")

	// The ALTER's request, as pg_locks shows it to the control connection.
	locktype, mode := ungrantedLock(t, ctx, db.ctl, alter.pid)
	if a.WaitLockMode != "AccessExclusiveLock" || a.WaitLockMode != mode || a.WaitLockType != "relation" || a.WaitLockType != locktype {
		t.Errorf("ALTER waits for %q %q; want AccessExclusiveLock relation (pg_locks: %s %s)", a.WaitLockMode, a.WaitLockType, mode, locktype)
	}
	if a.WaitRelation != "public.orders" {
		t.Errorf("ALTER wait_relation %q, want public.orders", a.WaitRelation)
	}
	if !sameInts(a.HardBlockedBy, []int{backup.pid}) || len(a.SoftBlockedBy) != 0 {
		t.Errorf("ALTER hard_blocked_by %v soft_blocked_by %v; want [%d] (the backup) and none", a.HardBlockedBy, a.SoftBlockedBy, backup.pid)
	}
	if a.Command != "ALTER TABLE" || !a.IsDDL {
		t.Errorf("ALTER command %q is_ddl %v; want ALTER TABLE, true", a.Command, a.IsDDL)
	}
	if a.BlockingTotal != 2 {
		t.Errorf("ALTER blocking_total %d, want 2 (the readers)", a.BlockingTotal)
	}
	if c.Info().VersionNum >= 140000 {
		if a.LockWaitRuntime <= 0 || a.LockWaitRuntime > a.QueryRuntime {
			t.Errorf("ALTER lock_wait_runtime %v, want > 0 and at most its query_runtime %v", a.LockWaitRuntime, a.QueryRuntime)
		}
	} else if a.LockWaitRuntime != 0 {
		t.Errorf("lock_wait_runtime %v before PostgreSQL 14 (no pg_locks.waitstart), want 0", a.LockWaitRuntime)
	}

	for _, rs := range readers {
		r := mustRow(t, snap, rs.pid, "a queued reader")
		if !slices.Contains(r.BlockedBy, alter.pid) || slices.Contains(r.BlockedBy, backup.pid) {
			t.Errorf("reader %d blocked_by %v; want the ALTER %d and not the backup %d", rs.pid, r.BlockedBy, alter.pid, backup.pid)
		}
		if !slices.Contains(r.SoftBlockedBy, alter.pid) || slices.Contains(r.HardBlockedBy, alter.pid) {
			t.Errorf("reader %d soft_blocked_by %v hard_blocked_by %v; want the ALTER %d soft", rs.pid, r.SoftBlockedBy, r.HardBlockedBy, alter.pid)
		}
		if r.WaitLockMode != "AccessShareLock" || r.WaitRelation != "public.orders" || r.Command != "SELECT" || r.IsDDL {
			t.Errorf("reader %d: waits %q on %q, command %q ddl %v; want AccessShareLock on public.orders, SELECT, false",
				rs.pid, r.WaitLockMode, r.WaitRelation, r.Command, r.IsDDL)
		}
	}

	if b.HeldLockMode != "AccessShareLock" || b.BlockingTotal != 3 || b.Blocking != 1 || !b.IsRootBlocker {
		t.Errorf("backup held_lock_mode %q blocking_total %d blocking %d is_root_blocker %v; want AccessShareLock, 3, 1, true",
			b.HeldLockMode, b.BlockingTotal, b.Blocking, b.IsRootBlocker)
	}
	if b.WaitLockMode != "" || b.Locks == nil {
		t.Errorf("backup: wait_lock_mode %q, locks %v; want no wait and its locks read", b.WaitLockMode, b.Locks)
	}
	if r := mustRow(t, snap, bystander.pid, "the bystander"); r.Locks != nil || r.HeldLockMode != "" {
		t.Errorf("bystander has lock detail: locks %v held %q", r.Locks, r.HeldLockMode)
	}
	wantLockDetailOnlyWhereInvolved(t, snap)
}

// A row-lock chain two levels deep (catalogue §8): a session idle in a
// transaction holds a row, a writer waits for it, a second writer queues
// behind the first on the same row.
func TestSnapshotRowLockChain(t *testing.T) {
	t.Parallel()
	ctx := pgtest.Context(t)
	db := newDB(t, "pg_facts_rows")
	if err := incident.CreateLockTable(ctx, db.dsn, "Accounts", 1); err != nil {
		t.Fatal(err)
	}
	holder := pgtest.Staged[*incident.Session](t)(incident.IdleInTransaction(ctx, db.dsn, "pgrb-holder", "Accounts", 1))
	writer := pgtest.Staged[*incident.Session](t)(incident.Writer(ctx, db.dsn, "pgrb-writer", "Accounts", 1))
	writer2 := pgtest.Staged[*incident.Session](t)(incident.Writer(ctx, db.dsn, "pgrb-writer2", "Accounts", 1))
	c := connectClient(t, ctx, Options{DSN: db.dsn})

	snap := snapshot(t, ctx, c)
	h := mustRow(t, snap, holder.PID, "holder")
	if h.BlockingTotal != 2 || !h.IsRootBlocker {
		t.Errorf("holder blocking_total %d is_root_blocker %v, want 2 (both writers) and true", h.BlockingTotal, h.IsRootBlocker)
	}
	var direct int
	if err := db.ctl.QueryRow(ctx, "SELECT count(*) FROM pg_stat_activity WHERE $1 = ANY(pg_blocking_pids(pid))", holder.PID).Scan(&direct); err != nil {
		t.Fatal(err)
	}
	if h.Blocking != direct {
		t.Errorf("holder blocking %d, but pg_blocking_pids names it for %d sessions", h.Blocking, direct)
	}
	if want := strongestHeld(t, ctx, db.ctl, holder.PID); h.HeldLockMode != want || want == "" {
		t.Errorf("holder held_lock_mode %q, want %q (the strongest granted in pg_locks, its virtualxid aside)", h.HeldLockMode, want)
	}
	if h.BackendXID == "" || h.XidAge < 1 {
		t.Errorf("holder backend_xid %q xid_age %d, want an xid of age >= 1", h.BackendXID, h.XidAge)
	}

	for _, w := range []*incident.Session{writer, writer2} {
		r := mustRow(t, snap, w.PID, w.App)
		locktype, mode := ungrantedLock(t, ctx, db.ctl, w.PID)
		if (r.WaitLockType != "transactionid" && r.WaitLockType != "tuple") || r.WaitLockType != locktype || r.WaitLockMode != mode {
			t.Errorf("%s waits for %q %q, pg_locks says %q %q; want a transactionid or tuple lock", w.App, r.WaitLockType, r.WaitLockMode, locktype, mode)
		}
		if len(r.HardBlockedBy) == 0 || !sameInts(r.HardBlockedBy, r.BlockedBy) {
			t.Errorf("%s hard_blocked_by %v soft %v blocked_by %v; want every blocker hard", w.App, r.HardBlockedBy, r.SoftBlockedBy, r.BlockedBy)
		}
		if r.WaitLockType == "tuple" && r.WaitRelation != `public."Accounts"` {
			t.Errorf("%s waits on a tuple of %q, want public.\"Accounts\" (quoted as in SQL)", w.App, r.WaitRelation)
		}
		if r.WaitLockType == "transactionid" && r.WaitRelation != "" {
			t.Errorf("%s waits on a transaction, yet wait_relation is %q", w.App, r.WaitRelation)
		}
	}
	if w := mustRow(t, snap, writer.PID, "writer"); w.BlockingTotal != 1 || !sameInts(w.HardBlockedBy, []int{holder.PID}) {
		t.Errorf("writer blocking_total %d hard_blocked_by %v, want 1 and [%d]", w.BlockingTotal, w.HardBlockedBy, holder.PID)
	}
	if w2 := mustRow(t, snap, writer2.PID, "writer2"); w2.BlockingTotal != 0 || !sameInts(w2.RootBlockers, []int{holder.PID}) {
		t.Errorf("writer2 blocking_total %d root_blockers %v, want 0 and [%d]", w2.BlockingTotal, w2.RootBlockers, holder.PID)
	}
	wantLockDetailOnlyWhereInvolved(t, snap)
}

// xmin_age and xid_age grow while a transaction keeps its snapshot and
// others commit (catalogue §3).
func TestSnapshotHorizonAges(t *testing.T) {
	t.Parallel()
	ctx := pgtest.Context(t)
	db := newDB(t, "pg_facts_xmin")
	holder := openSession(t, ctx, db.dsn, "pgrb-old-snapshot", "BEGIN ISOLATION LEVEL REPEATABLE READ", "SELECT txid_current()")
	reader := openSession(t, ctx, db.dsn, "pgrb-reader", "BEGIN ISOLATION LEVEL REPEATABLE READ", "SELECT 1")
	c := connectClient(t, ctx, Options{DSN: db.dsn})

	before := *mustRow(t, snapshot(t, ctx, c), holder.pid, "the old snapshot")
	if before.BackendXmin == "" || before.XminAge < 1 || before.BackendXID == "" || before.XidAge < 1 {
		t.Fatalf("holder backend_xmin %q xmin_age %d backend_xid %q xid_age %d; want both set, ages >= 1",
			before.BackendXmin, before.XminAge, before.BackendXID, before.XidAge)
	}
	// Burn transaction ids in other transactions, each committed.
	const burned = 5
	for range burned {
		if _, err := db.ctl.Exec(ctx, "SELECT txid_current()"); err != nil {
			t.Fatal(err)
		}
	}
	var after activity.Session
	for range 50 {
		after = *mustRow(t, snapshot(t, ctx, c), holder.pid, "the old snapshot")
		if after.XminAge > before.XminAge {
			break
		}
	}
	if after.BackendXmin != before.BackendXmin || after.XminAge < before.XminAge+burned || after.XidAge < before.XidAge+burned {
		t.Errorf("after %d more transactions: xmin %q→%q xmin_age %d→%d xid_age %d→%d; want the same xmin, both ages %d older",
			burned, before.BackendXmin, after.BackendXmin, before.XminAge, after.XminAge, before.XidAge, after.XidAge, burned)
	}
	var truth int64
	if err := db.ctl.QueryRow(ctx, "SELECT age(backend_xmin) FROM pg_stat_activity WHERE pid = $1", holder.pid).Scan(&truth); err != nil {
		t.Fatal(err)
	}
	if truth < after.XminAge {
		t.Errorf("xmin_age %d is more than age(backend_xmin) %d read later", after.XminAge, truth)
	}
	r := mustRow(t, snapshot(t, ctx, c), reader.pid, "the reader")
	if r.BackendXmin == "" || r.XminAge < 1 || r.BackendXID != "" || r.XidAge != 0 {
		t.Errorf("reader backend_xmin %q xmin_age %d backend_xid %q xid_age %d; want an xmin, no xid, xid_age 0",
			r.BackendXmin, r.XminAge, r.BackendXID, r.XidAge)
	}
}

// ungrantedLock returns the lock pid waits for, as pg_locks shows it.
func ungrantedLock(t *testing.T, ctx context.Context, ctl *pgx.Conn, pid int) (locktype, mode string) {
	t.Helper()
	if err := ctl.QueryRow(ctx, "SELECT locktype, mode FROM pg_locks WHERE pid = $1 AND NOT granted", pid).Scan(&locktype, &mode); err != nil {
		t.Fatalf("the ungranted lock of pid %d: %v", pid, err)
	}
	return locktype, mode
}

// strongestHeld returns the strongest mode pid holds in pg_locks, its
// own virtualxid lock aside.
func strongestHeld(t *testing.T, ctx context.Context, ctl *pgx.Conn, pid int) string {
	t.Helper()
	rows, err := ctl.Query(ctx, "SELECT mode FROM pg_locks WHERE pid = $1 AND granted AND locktype <> 'virtualxid'", pid)
	if err != nil {
		t.Fatal(err)
	}
	modes, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	best := ""
	for _, m := range modes {
		if slices.Index(activity.LockModes, m) > slices.Index(activity.LockModes, best) {
			best = m
		}
	}
	return best
}

// wantLockDetailOnlyWhereInvolved checks that only sessions that wait on
// a lock or are named in some blocked_by have lock rows.
func wantLockDetailOnlyWhereInvolved(t *testing.T, snap *activity.Snapshot) {
	t.Helper()
	named := map[int]bool{}
	for _, r := range snap.Rows {
		for _, p := range r.BlockedBy {
			named[p] = true
		}
	}
	for _, r := range snap.Rows {
		if r.Locks != nil && r.WaitEventType != "Lock" && !named[r.PID] {
			t.Errorf("pid %d (%s) neither waits nor blocks, yet has %d lock rows", r.PID, r.ApplicationName, len(r.Locks))
		}
	}
}

// pgLockStatusLoops runs the snapshot statement under EXPLAIN ANALYZE
// and returns how many times its pg_lock_status function scan (pg_locks)
// ran, or fails the test if the plan has none.
func pgLockStatusLoops(t *testing.T, ctx context.Context, ctl *pgx.Conn, c *Client) int {
	t.Helper()
	var plan []byte
	if err := ctl.QueryRow(ctx, "EXPLAIN (ANALYZE, FORMAT JSON) "+string(c.sql)).Scan(&plan); err != nil {
		t.Fatal(err)
	}
	var doc []struct {
		Plan planNode `json:"Plan"`
	}
	if err := json.Unmarshal(plan, &doc); err != nil || len(doc) != 1 {
		t.Fatalf("EXPLAIN output %s: %v", plan, err)
	}
	loops, found := doc[0].Plan.loopsOf("pg_lock_status")
	if !found {
		t.Fatalf("the snapshot's plan has no pg_lock_status scan: %s", plan)
	}
	return loops
}

// planNode is a node of EXPLAIN's JSON output.
type planNode struct {
	FunctionName string     `json:"Function Name"`
	ActualLoops  int        `json:"Actual Loops"`
	Plans        []planNode `json:"Plans"`
}

// loopsOf adds up the loops of the function scans of fn under n.
func (n planNode) loopsOf(fn string) (loops int, found bool) {
	if n.FunctionName == fn {
		loops, found = n.ActualLoops, true
	}
	for _, p := range n.Plans {
		l, f := p.loopsOf(fn)
		loops += l
		found = found || f
	}
	return loops, found
}

// TestSnapshotSkipsPgLocksWhenNobodyWaits proves the snapshot statement
// does not run pg_lock_status (which takes every lock-manager partition
// lock) when no session waits on a lock, and does when one does. It is
// not parallel: the server's sessions are those of this test (and the
// server's own processes) while it runs.
func TestSnapshotSkipsPgLocksWhenNobodyWaits(t *testing.T) {
	ctx := pgtest.Context(t)
	db := newDB(t, "pg_facts_quiet")
	if err := incident.CreateLockTable(ctx, db.dsn, "quiet", 1); err != nil {
		t.Fatal(err)
	}
	holder := pgtest.Staged[*incident.Session](t)(incident.IdleInTransaction(ctx, db.dsn, "pgrb-quiet-holder", "quiet", 1))
	c := connectClient(t, ctx, Options{DSN: db.dsn})

	snap := snapshot(t, ctx, c)
	for _, r := range snap.Rows {
		if r.WaitEventType == "Lock" {
			t.Fatalf("pid %d (%s) waits on a lock: this test needs a server where nobody does", r.PID, r.ApplicationName)
		}
		if r.Locks != nil || r.HeldLockMode != "" || r.WaitLockMode != "" {
			t.Errorf("pid %d (%s) has lock detail although nobody waits: %d locks, held %q", r.PID, r.ApplicationName, len(r.Locks), r.HeldLockMode)
		}
	}
	if loops := pgLockStatusLoops(t, ctx, db.ctl, c); loops != 0 {
		t.Errorf("nobody waits, yet the snapshot ran pg_lock_status %d times", loops)
	}

	// The control: once a session waits, pg_locks is read, once.
	writer := pgtest.Staged[*incident.Session](t)(incident.Writer(ctx, db.dsn, "pgrb-quiet-writer", "quiet", 1))
	if loops := pgLockStatusLoops(t, ctx, db.ctl, c); loops != 1 {
		t.Errorf("a session waits, and the snapshot ran pg_lock_status %d times, want 1", loops)
	}
	snap = snapshot(t, ctx, c)
	if h := mustRow(t, snap, holder.PID, "holder"); h.Locks == nil {
		t.Error("the blocker has no lock rows")
	}
	if w := mustRow(t, snap, writer.PID, "writer"); w.Locks == nil || w.WaitLockMode == "" {
		t.Errorf("the waiter has no lock facts: %d locks, wait_lock_mode %q", len(w.Locks), w.WaitLockMode)
	}
}
