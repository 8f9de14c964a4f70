package activity

import (
	"slices"
	"testing"
	"time"
)

func TestLockModesConflictIsSymmetric(t *testing.T) {
	for _, a := range LockModes {
		for _, b := range LockModes {
			if LockModesConflict(a, b) != LockModesConflict(b, a) {
				t.Errorf("%s vs %s: the conflict table is not symmetric", a, b)
			}
		}
	}
	if LockModesConflict("AccessShareLock", "RowExclusiveLock") {
		t.Error("a reader must not conflict with a writer's RowExclusiveLock")
	}
	if !LockModesConflict("AccessShareLock", "AccessExclusiveLock") {
		t.Error("a reader must wait for AccessExclusiveLock")
	}
	if !LockModesConflict("ShareUpdateExclusiveLock", "ShareUpdateExclusiveLock") {
		t.Error("ShareUpdateExclusiveLock conflicts with itself (two VACUUMs of one table)")
	}
	if LockModesConflict("ShareLock", "ShareLock") {
		t.Error("two CREATE INDEX (ShareLock) do not conflict")
	}
	if LockModesConflict("NoSuchLock", "AccessExclusiveLock") {
		t.Error("an unknown mode conflicts with nothing")
	}
}

// A lock queue behind DDL: a backup holds AccessShareLock, an ALTER waits
// for AccessExclusiveLock behind it, and two readers queue behind the
// ALTER. pg_blocking_pids names the ALTER for the readers: it only queues
// ahead of them (soft), while the backup holds what the ALTER wants (hard).
func TestDeriveLockQueueBehindDDL(t *testing.T) {
	now := time.Date(2026, 1, 1, 3, 0, 0, 0, time.UTC)
	rel := func(mode string, granted bool, wait time.Duration) Lock {
		l := Lock{LockType: "relation", Database: 5, Relation: 16384, Mode: mode, Granted: granted, RelationName: "public.orders"}
		if !granted {
			l.WaitStart = now.Add(-wait)
		}
		return l
	}
	s := Snapshot{Taken: now, Rows: []Session{
		{PID: 10, State: "active", Query: "COPY public.orders TO stdout", Locks: []Lock{rel("AccessShareLock", true, 0)}},
		{PID: 11, State: "active", Query: "ALTER TABLE orders ADD COLUMN note text", BlockedBy: []int{10},
			Locks: []Lock{rel("AccessExclusiveLock", false, 40*time.Second)}},
		{PID: 12, State: "active", Query: "SELECT * FROM orders", BlockedBy: []int{11}, Locks: []Lock{rel("AccessShareLock", false, 30*time.Second)}},
		{PID: 13, State: "active", Query: "SELECT * FROM orders", BlockedBy: []int{11}, Locks: []Lock{rel("AccessShareLock", false, 20*time.Second)}},
		{PID: 14, State: "idle", Query: "SELECT 1"},
	}}
	s.Derive()
	backup, alter, reader := s.Rows[0], s.Rows[1], s.Rows[2]
	if backup.HeldLockMode != "AccessShareLock" || backup.BlockingTotal != 3 || backup.Blocking != 1 || !backup.IsRootBlocker {
		t.Errorf("backup: held %q total %d direct %d root %v; want AccessShareLock 3 1 true",
			backup.HeldLockMode, backup.BlockingTotal, backup.Blocking, backup.IsRootBlocker)
	}
	if alter.WaitLockMode != "AccessExclusiveLock" || alter.WaitLockType != "relation" || alter.WaitRelation != "public.orders" {
		t.Errorf("alter waits for %q %q on %q", alter.WaitLockMode, alter.WaitLockType, alter.WaitRelation)
	}
	if alter.LockWaitRuntime != 40*time.Second {
		t.Errorf("alter lock_wait_runtime = %v, want 40s", alter.LockWaitRuntime)
	}
	if !slices.Equal(alter.HardBlockedBy, []int{10}) || len(alter.SoftBlockedBy) != 0 {
		t.Errorf("alter hard %v soft %v, want hard [10]", alter.HardBlockedBy, alter.SoftBlockedBy)
	}
	if alter.Command != "ALTER TABLE" || !alter.IsDDL || alter.BlockingTotal != 2 {
		t.Errorf("alter command %q ddl %v total %d", alter.Command, alter.IsDDL, alter.BlockingTotal)
	}
	if !slices.Equal(reader.SoftBlockedBy, []int{11}) || len(reader.HardBlockedBy) != 0 {
		t.Errorf("reader hard %v soft %v, want soft [11]", reader.HardBlockedBy, reader.SoftBlockedBy)
	}
	if s.Rows[4].HeldLockMode != "" || s.Rows[4].WaitLockMode != "" {
		t.Errorf("an idle session without lock detail got lock facts: %+v", s.Rows[4])
	}
}

func TestDeriveHardBlockerOnRowLock(t *testing.T) {
	xid := Lock{LockType: "transactionid", TransactionID: "731"}
	holder := xid
	holder.Mode, holder.Granted = "ExclusiveLock", true
	waiter := xid
	waiter.Mode = "ShareLock"
	s := Snapshot{Taken: time.Now(), Rows: []Session{
		{PID: 1, State: "idle in transaction", Locks: []Lock{
			{LockType: "relation", Relation: 1, Mode: "RowExclusiveLock", Granted: true}, holder}},
		{PID: 2, State: "active", BlockedBy: []int{1}, Locks: []Lock{waiter,
			{LockType: "relation", Relation: 1, Mode: "RowExclusiveLock", Granted: true}}},
		// A blocker whose locks were not read counts as hard.
		{PID: 3, State: "active", BlockedBy: []int{4}, Locks: []Lock{waiter}},
	}}
	s.Derive()
	if s.Rows[0].HeldLockMode != "ExclusiveLock" {
		t.Errorf("holder's strongest mode = %q, want ExclusiveLock", s.Rows[0].HeldLockMode)
	}
	if !slices.Equal(s.Rows[1].HardBlockedBy, []int{1}) || s.Rows[1].WaitLockType != "transactionid" {
		t.Errorf("writer hard %v type %q", s.Rows[1].HardBlockedBy, s.Rows[1].WaitLockType)
	}
	if s.Rows[1].HeldLockMode != "RowExclusiveLock" {
		t.Errorf("writer holds %q, want RowExclusiveLock", s.Rows[1].HeldLockMode)
	}
	if !slices.Equal(s.Rows[2].HardBlockedBy, []int{4}) {
		t.Errorf("unknown blocker: hard %v, want [4]", s.Rows[2].HardBlockedBy)
	}
}

func TestDeriveTreeSizeAndConnections(t *testing.T) {
	s := Snapshot{Taken: time.Now(), Server: Server{MaxConnections: 10, SuperuserReservedConnections: 3}, Rows: []Session{
		{PID: 1, BackendType: ClientBackend},
		{PID: 2, BackendType: ClientBackend, BlockedBy: []int{1}},
		{PID: 3, BackendType: ClientBackend, BlockedBy: []int{2}},
		{PID: 4, BackendType: ClientBackend, BlockedBy: []int{2, 1}},
		{PID: 5, BackendType: "autovacuum worker", Query: "autovacuum: VACUUM public.t (to prevent wraparound)"},
		{PID: 6, Query: HiddenQuery},
		{PID: 7, BackendType: ClientBackend, State: StateIdleInAbortedTransaction, BlockedBy: []int{8}},
		{PID: 8, BackendType: ClientBackend, BlockedBy: []int{7}},
	}}
	s.Derive()
	totals := map[int]int{}
	for _, r := range s.Rows {
		totals[r.PID] = r.BlockingTotal
	}
	want := map[int]int{1: 3, 2: 2, 3: 0, 4: 0, 5: 0, 6: 0, 7: 1, 8: 1}
	for pid, w := range want {
		if totals[pid] != w {
			t.Errorf("pid %d blocking_total = %d, want %d", pid, totals[pid], w)
		}
	}
	if !s.Rows[4].IsWraparoundVacuum || s.Rows[4].Command != "AUTOVACUUM" {
		t.Errorf("wraparound vacuum not recognised: %+v", s.Rows[4])
	}
	if !s.Rows[6].XactAborted || s.Rows[0].XactAborted {
		t.Error("xact_aborted must be true only for idle in transaction (aborted)")
	}
	if s.Server.ConnectionsUsed != 7 || s.Server.ConnectionsFree != 0 {
		t.Errorf("connections used %d free %d, want 7 (6 client backends and a hidden row) and 0", s.Server.ConnectionsUsed, s.Server.ConnectionsFree)
	}
	s.Rows = s.Rows[:2]
	s.Derive()
	if s.Server.ConnectionsFree != 5 {
		t.Errorf("free = %d, want 10-3-2 = 5", s.Server.ConnectionsFree)
	}
}
