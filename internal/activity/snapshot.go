package activity

import (
	"sort"
	"strings"
	"time"
)

// Snapshot is the set of sessions read from pg_stat_activity at one instant.
type Snapshot struct {
	// Taken is the server's clock when the rows were read; every runtime in
	// the rows is measured from it.
	Taken time.Time `json:"taken"`
	// Rows are the sessions, in the order the server returned them.
	Rows []Session `json:"rows"`
	// Server describes the server the rows were read from.
	Server Server `json:"server"`
}

// Derive fills the derived fields of every row: runtimes relative to
// Taken; from the blocked_by lists Blocking, BlockingTotal, RootBlockers
// and IsRootBlocker; the command tag, xact_aborted and
// is_wraparound_vacuum; the lock facts of rows with Locks (deriveLocks);
// and the server's connection counts.
func (s *Snapshot) Derive() {
	blocking := make(map[int]int)
	blockedBy := make(map[int][]int)
	for i := range s.Rows {
		for _, p := range s.Rows[i].BlockedBy {
			blocking[p]++
		}
		if len(s.Rows[i].BlockedBy) > 0 {
			blockedBy[s.Rows[i].PID] = s.Rows[i].BlockedBy
		}
	}
	// The waits-for graph, walked once per waiter: every session it waits
	// on, directly or through others, counts it in its lock tree; those
	// among them that wait on nobody are its roots. A cycle (a deadlock
	// the server has not broken yet) has no root.
	total := make(map[int]int)
	roots := make(map[int][]int)
	for waiter := range blockedBy {
		for _, b := range blockersOf(waiter, blockedBy) {
			total[b]++
			if len(blockedBy[b]) == 0 {
				roots[waiter] = append(roots[waiter], b)
			}
		}
		sort.Ints(roots[waiter])
	}
	for i := range s.Rows {
		r := &s.Rows[i]
		r.QueryRuntime = since(s.Taken, r.QueryStart)
		r.XactRuntime = since(s.Taken, r.XactStart)
		r.StateRuntime = since(s.Taken, r.StateChange)
		r.BackendRuntime = since(s.Taken, r.BackendStart)
		r.Blocking = blocking[r.PID]
		r.IsRootBlocker = r.Blocking > 0 && len(r.BlockedBy) == 0
		r.RootBlockers = roots[r.PID]
		r.BlockingTotal = total[r.PID]
		if r.Command == "" {
			r.Command, r.IsDDL = CommandOf(r.Query)
		}
		r.XactAborted = r.State == StateIdleInAbortedTransaction
		r.IsWraparoundVacuum = r.BackendType == "autovacuum worker" && strings.Contains(r.Query, "(to prevent wraparound)")
	}
	s.deriveLocks()
	s.countConnections()
}

// blockersOf lists every session pid waits on, directly or through
// others, each once; pid itself is never in the list, even in a cycle.
func blockersOf(pid int, blockedBy map[int][]int) []int {
	var out []int
	seen := map[int]bool{pid: true}
	stack := append([]int(nil), blockedBy[pid]...)
	for len(stack) > 0 {
		p := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		if seen[p] {
			continue
		}
		seen[p] = true
		out = append(out, p)
		stack = append(stack, blockedBy[p]...)
	}
	return out
}

// Find returns the row of the session with the given identity, or nil.
func (s *Snapshot) Find(id Identity) *Session {
	for i := range s.Rows {
		if s.Rows[i].PID == id.PID && s.Rows[i].BackendStart.Equal(id.BackendStart) {
			return &s.Rows[i]
		}
	}
	return nil
}

func since(now, t time.Time) time.Duration {
	if t.IsZero() || now.Before(t) {
		return 0
	}
	return now.Sub(t)
}
