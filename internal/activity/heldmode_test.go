package activity

import (
	"testing"
	"time"
)

// Every transaction holds ExclusiveLock on its own virtualxid; a reader
// whose only other lock is AccessShareLock holds AccessShareLock.
func TestHeldLockModeIgnoresOwnVirtualXID(t *testing.T) {
	s := Snapshot{Taken: time.Now(), Rows: []Session{
		{PID: 1, Locks: []Lock{
			{LockType: "virtualxid", VirtualXID: "3/7", Mode: "ExclusiveLock", Granted: true},
			{LockType: "relation", Relation: 16384, Mode: "AccessShareLock", Granted: true},
		}},
		{PID: 2, BlockedBy: []int{1}, Locks: []Lock{
			{LockType: "virtualxid", VirtualXID: "4/2", Mode: "ExclusiveLock", Granted: true},
			{LockType: "relation", Relation: 16384, Mode: "AccessExclusiveLock"},
		}},
	}}
	s.Derive()
	if got := s.Rows[0].HeldLockMode; got != "AccessShareLock" {
		t.Errorf("reader's held_lock_mode = %q, want AccessShareLock", got)
	}
	if got := s.Rows[1].HeldLockMode; got != "" {
		t.Errorf("waiter holding only its virtualxid: held_lock_mode = %q, want none", got)
	}
}
