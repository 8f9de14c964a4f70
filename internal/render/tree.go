package render

import (
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/pgrunbook/pgrunbook/internal/activity"
)

// blockerOf is the session a waiter hangs under in a lock tree: the first
// blocker that holds a conflicting lock, else the first it waits for; 0
// for a session that waits on nobody.
func blockerOf(s *activity.Session) int {
	if len(s.HardBlockedBy) > 0 {
		return s.HardBlockedBy[0]
	}
	if len(s.BlockedBy) > 0 {
		return s.BlockedBy[0]
	}
	return 0
}

// anyWaits reports whether a session of rows or of known waits on another.
func anyWaits(rows []activity.Session, known map[int]*activity.Session) bool {
	for i := range rows {
		if blockerOf(&rows[i]) != 0 {
			return true
		}
	}
	for _, s := range known {
		if blockerOf(s) != 0 {
			return true
		}
	}
	return false
}

// maxChildren is how many waiters of one session a lock tree lists; the
// rest are counted.
const maxChildren = 8

// LockTree writes, under a table, the lock chains its rows are part of:
// each root blocker, and under it the sessions waiting on it, each with
// how long it has waited and for which lock on which relation. rows are
// the sessions of the table; known are the rows of the latest snapshot,
// used to show blockers and waiters that are not in the table. It writes
// nothing when no row waits on or blocks another.
func LockTree(w io.Writer, rows []activity.Session, known map[int]*activity.Session, indent string) {
	lockTree(w, rows, known, indent, false)
}

func lockTree(w io.Writer, rows []activity.Session, known map[int]*activity.Session, indent string, color bool) {
	if !anyWaits(rows, known) {
		// No chain at all, as on most screens: nothing to build.
		return
	}
	all := make(map[int]*activity.Session, len(known)+len(rows))
	for pid, s := range known {
		all[pid] = s
	}
	inTable := map[int]bool{}
	for i := range rows {
		all[rows[i].PID] = &rows[i]
		inTable[rows[i].PID] = true
	}
	children := map[int][]int{}
	for pid, s := range all {
		if p := blockerOf(s); p != 0 && p != pid {
			children[p] = append(children[p], pid)
		}
	}
	for _, c := range children {
		slices.Sort(c)
	}
	// The roots of the chains the table's rows are in.
	var roots []int
	for i := range rows {
		s := &rows[i]
		if len(s.BlockedBy) == 0 && s.BlockingTotal == 0 && len(children[s.PID]) == 0 {
			continue
		}
		root, seen := s.PID, map[int]bool{}
		for !seen[root] {
			seen[root] = true
			up, ok := all[root]
			if !ok || blockerOf(up) == 0 {
				break
			}
			root = blockerOf(up)
		}
		if !slices.Contains(roots, root) {
			roots = append(roots, root)
		}
	}
	if len(roots) == 0 {
		return
	}
	slices.Sort(roots)
	fmt.Fprintf(w, "%slock tree (root blocker, then who waits on it):\n", indent)
	drawn := map[int]bool{}
	var draw func(pid, from int, prefix, branch string)
	draw = func(pid, from int, prefix, branch string) {
		text := treeNode(all[pid], pid, from, inTable[pid], color)
		if drawn[pid] {
			text = fmt.Sprintf("pid %d (shown above: the locks wait in a cycle)", pid)
		}
		fmt.Fprintf(w, "%s%s%s\n", prefix, branch, text)
		if drawn[pid] {
			return
		}
		drawn[pid] = true
		next := prefix
		switch branch {
		case "├─ ":
			next += "│  "
		case "└─ ":
			next += "   "
		}
		kids := children[pid]
		shown := kids[:min(len(kids), maxChildren)]
		for i, c := range shown {
			b := "├─ "
			if i == len(shown)-1 && len(kids) == len(shown) {
				b = "└─ "
			}
			draw(c, pid, next, b)
		}
		if rest := len(kids) - len(shown); rest > 0 {
			fmt.Fprintf(w, "%s└─ … and %d more waiting on pid %d\n", next, rest, pid)
		}
	}
	for _, root := range roots {
		draw(root, 0, indent+"  ", "")
	}
}

// treeNode describes one session of a lock tree. from is the blocker it
// hangs under (0 for a root).
func treeNode(s *activity.Session, pid, from int, inTable, color bool) string {
	if s == nil {
		return fmt.Sprintf("pid %d (not in the snapshot: ended, or not visible to this role)", pid)
	}
	var b strings.Builder
	fmt.Fprintf(&b, "pid %d", pid)
	if who := strings.TrimSpace(strings.Join(nonEmpty(s.Usename, s.ApplicationName), "/")); who != "" {
		fmt.Fprintf(&b, " %s", who)
	}
	if from == 0 {
		fmt.Fprintf(&b, ": %s", stateFor(s))
	} else {
		waited := s.LockWaitRuntime
		if waited <= 0 {
			waited = s.QueryRuntime
		}
		what := s.WaitLockMode
		if what == "" {
			what = strings.Trim(s.WaitEventType+":"+s.WaitEvent, ":")
		}
		if what == "" {
			what = "a lock"
		}
		fmt.Fprintf(&b, ": waits %s for %s", Duration(waited), what)
		if s.WaitRelation != "" {
			fmt.Fprintf(&b, " on %s", s.WaitRelation)
		}
		if slices.Contains(s.SoftBlockedBy, from) {
			b.WriteString(" (queued behind it: its lock request is ahead in the queue)")
		}
		if others := slices.DeleteFunc(slices.Clone(s.BlockedBy), func(p int) bool { return p == from }); len(others) > 0 {
			fmt.Fprintf(&b, ", also behind %s", joinInts(others))
		}
	}
	if s.BlockingTotal > 0 {
		b.WriteString(Risk(color && from == 0, fmt.Sprintf(", blocks %d", s.BlockingTotal)))
	}
	if !inTable {
		b.WriteString(" [not in this table]")
	}
	return b.String()
}

// stateFor says what a root blocker is doing and for how long.
func stateFor(s *activity.Session) string {
	switch {
	case s.State == "active":
		return "active for " + Duration(s.QueryRuntime)
	case s.State != "":
		return s.State + " for " + Duration(s.StateRuntime)
	}
	return "state hidden"
}

func nonEmpty(v ...string) []string {
	var out []string
	for _, s := range v {
		if s != "" {
			out = append(out, s)
		}
	}
	return out
}
