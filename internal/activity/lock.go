package activity

import (
	"slices"
	"time"
)

// Lock is one row of pg_locks: a heavyweight lock a session holds
// (Granted) or waits for. The fields that identify the locked object
// (LockType through ObjSubID) are compared as a whole: two rows lock the
// same object when all of them are equal.
type Lock struct {
	LockType      string    `json:"locktype"`
	Database      uint32    `json:"database,omitempty"`
	Relation      uint32    `json:"relation,omitempty"`
	Page          int32     `json:"page,omitempty"`
	Tuple         int16     `json:"tuple,omitempty"`
	VirtualXID    string    `json:"virtualxid,omitempty"`
	TransactionID string    `json:"transactionid,omitempty"`
	ClassID       uint32    `json:"classid,omitempty"`
	ObjID         uint32    `json:"objid,omitempty"`
	ObjSubID      int16     `json:"objsubid,omitempty"`
	Mode          string    `json:"mode"`
	Granted       bool      `json:"granted"`
	WaitStart     time.Time `json:"waitstart,omitzero"`
	// RelationName is the schema-qualified name of Relation when the
	// server could resolve it (the connected database or a shared
	// catalog).
	RelationName string `json:"relation_name,omitempty"`
}

// sameObject reports whether two lock rows are on the same object.
func (l *Lock) sameObject(o *Lock) bool {
	return l.LockType == o.LockType && l.Database == o.Database && l.Relation == o.Relation &&
		l.Page == o.Page && l.Tuple == o.Tuple && l.VirtualXID == o.VirtualXID &&
		l.TransactionID == o.TransactionID && l.ClassID == o.ClassID && l.ObjID == o.ObjID &&
		l.ObjSubID == o.ObjSubID
}

// LockModes are the heavyweight lock modes, weakest first.
var LockModes = []string{
	"AccessShareLock", "RowShareLock", "RowExclusiveLock", "ShareUpdateExclusiveLock",
	"ShareLock", "ShareRowExclusiveLock", "ExclusiveLock", "AccessExclusiveLock",
}

// lockStrength is a mode's position in LockModes, -1 for an unknown mode.
func lockStrength(mode string) int { return slices.Index(LockModes, mode) }

// conflicts lists, by the strength of a requested mode, the strengths of
// the modes it conflicts with (the table "Conflicting Lock Modes" of the
// PostgreSQL documentation, chapter "Explicit Locking").
var conflicts = [8][]int{
	{7},                   // AccessShare: AccessExclusive
	{6, 7},                // RowShare: Exclusive, AccessExclusive
	{4, 5, 6, 7},          // RowExclusive: Share and stronger
	{3, 4, 5, 6, 7},       // ShareUpdateExclusive: itself and stronger
	{2, 3, 5, 6, 7},       // Share: all but itself and the two weakest
	{2, 3, 4, 5, 6, 7},    // ShareRowExclusive
	{1, 2, 3, 4, 5, 6, 7}, // Exclusive: all but AccessShare
	{0, 1, 2, 3, 4, 5, 6, 7},
}

// LockModesConflict reports whether a lock requested in mode a must wait
// for one held in mode b on the same object.
func LockModesConflict(a, b string) bool {
	sa, sb := lockStrength(a), lockStrength(b)
	if sa < 0 || sb < 0 {
		return false
	}
	return slices.Contains(conflicts[sa], sb)
}

// strongerMode returns the stronger of two modes ("" counts as none).
func strongerMode(a, b string) string {
	if lockStrength(b) > lockStrength(a) {
		return b
	}
	return a
}

// deriveLocks fills the lock facts of the rows that have Locks: the lock a
// waiter requests, how long it has waited, which of its blockers hold a
// conflicting lock (hard) and which only queue ahead (soft), and the
// strongest mode each holds. Rows without Locks keep the facts they have
// (a fixture or a recorded snapshot sets them directly).
func (s *Snapshot) deriveLocks() {
	locksOf := make(map[int][]Lock)
	for i := range s.Rows {
		if s.Rows[i].Locks != nil {
			locksOf[s.Rows[i].PID] = s.Rows[i].Locks
		}
	}
	if len(locksOf) == 0 {
		return
	}
	for i := range s.Rows {
		r := &s.Rows[i]
		if r.Locks == nil {
			continue
		}
		var wanted *Lock
		r.HeldLockMode = ""
		for j := range r.Locks {
			l := &r.Locks[j]
			if l.Granted {
				// Every transaction holds ExclusiveLock on its own
				// virtual transaction id: that says nothing.
				if l.LockType != "virtualxid" {
					r.HeldLockMode = strongerMode(r.HeldLockMode, l.Mode)
				}
			} else if wanted == nil {
				wanted = l
			}
		}
		if wanted == nil {
			continue
		}
		r.WaitLockType, r.WaitLockMode, r.WaitRelation = wanted.LockType, wanted.Mode, wanted.RelationName
		r.LockWaitRuntime = since(s.Taken, wanted.WaitStart)
		r.HardBlockedBy, r.SoftBlockedBy = nil, nil
		for _, b := range r.BlockedBy {
			if holdsConflicting(locksOf[b], wanted) {
				r.HardBlockedBy = append(r.HardBlockedBy, b)
			} else {
				r.SoftBlockedBy = append(r.SoftBlockedBy, b)
			}
		}
	}
}

// holdsConflicting reports whether any granted lock of held is on the
// object of wanted in a mode that wanted must wait for. A blocker whose
// locks were not read counts as holding one: the server said it blocks,
// and nothing shows it only queues.
func holdsConflicting(held []Lock, wanted *Lock) bool {
	if held == nil {
		return true
	}
	for i := range held {
		if held[i].Granted && held[i].sameObject(wanted) && LockModesConflict(wanted.Mode, held[i].Mode) {
			return true
		}
	}
	return false
}
