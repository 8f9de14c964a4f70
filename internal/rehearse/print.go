package rehearse

import (
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"

	"github.com/pgrunbook/pgrunbook/internal/incident"
)

// print lists what was staged, with what the server shows of the
// incident as a whole (the lock chain, the lock queue, the connection
// slots, the xmin horizon, ...) and pgbench's sessions.
func (c *incidentCast) print(out io.Writer, backends []incident.Backend, load *load) {
	fmt.Fprintf(out, "\n  %-8s %-17s %-54s %s\n", "PID", "APPLICATION", "STAGED AS", "A GOOD RUN")
	flood := c.ofKind(IdleFlood)
	for _, s := range c.sessions {
		info := kinds[s.kind]
		if s.kind == IdleFlood {
			if s == flood[0] {
				what := fmt.Sprintf("%d idle sessions of role %s (%s)", len(flood), info.app, pidsOf(flood))
				fmt.Fprintf(out, "  %-8s %-17s %-54s %s\n", "×"+strconv.Itoa(len(flood)), info.app, cut(what, 54), info.expect)
			}
			continue
		}
		what := info.what
		if s.query != "" && s.background() && s.kind != StubbornQuery {
			what += ": " + s.query
		}
		fmt.Fprintf(out, "  %-8d %-17s %-54s %s\n", s.pid, s.name, cut(what, 54), info.expect)
	}
	if load != nil {
		fmt.Fprintf(out, "  %-8s %-17s %-54s %s\n", "pgbench", fmt.Sprintf("%d sessions", len(load.before)),
			"TPC-B-like load at "+strconv.Itoa(load.rate)+" tps", "leave alone; no client may abort")
	}
	for _, line := range c.incidentLines(backends) {
		fmt.Fprintf(out, "  %s\n", line)
	}
}

// incidentLines describe the staged incident as the server shows it.
func (c *incidentCast) incidentLines(backends []incident.Backend) []string {
	var lines []string
	if chain := lockChain(backends, c); chain != "" {
		lines = append(lines, "lock chain: "+chain)
	}
	b := c.before
	if len(b.locks) > 0 {
		lines = append(lines, "lock queue on "+lockTable+" (pg_locks): "+c.lockQueue(b.locks))
	}
	if b.slotsRead {
		lines = append(lines, fmt.Sprintf("connection slots: %s; pgrunbook connects as superuser %q through a reserved slot",
			b.slots, "postgres"))
	}
	if b.pinnedXmin != "" {
		holder := c.ofKind(SnapshotHolder)[0]
		lines = append(lines, fmt.Sprintf("xmin horizon: pinned at xid %s by %s; VACUUM may remove no row version that died since",
			b.pinnedXmin, label(holder)))
	}
	if storm := c.ofKind(StormQuery); len(storm) > 0 {
		lines = append(lines, fmt.Sprintf("query storm: %d sessions of %s run %q; each re-issues it %s after a cancel",
			len(storm), storm[0].app, stormSQL, stormPause))
	}
	if len(c.ofKind(DeadClient)) > 0 {
		lines = append(lines, "client addresses: "+addressSummary(backends))
	}
	return lines
}

// lockQueue renders relation locks with the staged sessions' names.
func (c *incidentCast) lockQueue(locks []incident.RelationLock) string {
	parts := make([]string, len(locks))
	for i, l := range locks {
		parts[i] = l.String()
		if s := c.byPID(l.PID); s != nil {
			parts[i] = strings.Replace(parts[i], fmt.Sprintf("pid %d", l.PID), fmt.Sprintf("%d (%s)", l.PID, s.name), 1)
		}
	}
	return strings.Join(parts, " ← ")
}

// addressSummary counts the client backends by client address.
func addressSummary(backends []incident.Backend) string {
	apps := map[string][]string{}
	for _, b := range backends {
		addr := b.ClientAddr
		if addr == "" {
			addr = "the unix socket"
		}
		if !slices.Contains(apps[addr], b.ApplicationName) {
			apps[addr] = append(apps[addr], b.ApplicationName)
		}
	}
	addrs := make([]string, 0, len(apps))
	for a := range apps {
		addrs = append(addrs, a)
	}
	slices.Sort(addrs)
	parts := make([]string, len(addrs))
	for i, a := range addrs {
		parts[i] = a + ": " + strings.Join(apps[a], ", ")
	}
	return strings.Join(parts, "; ")
}

// lockChain renders the chain from the idle transaction down through the
// writers queued behind it, as pg_blocking_pids reports it: each waiter
// is shown after the session it waits for.
func lockChain(backends []incident.Backend, c *incidentCast) string {
	var root *staged
	for _, s := range c.sessions {
		if s.kind == IdleInTransaction {
			root = s
		}
	}
	if root == nil {
		return ""
	}
	blockedBy := map[int][]int{}
	for _, b := range backends {
		blockedBy[b.PID] = b.BlockedBy
	}
	name := func(s *staged) string { return fmt.Sprintf("%d (%s)", s.pid, s.name) }
	parts := []string{name(root) + " idle in transaction"}
	depth := 0
	prev := root.pid
	for {
		var next *staged
		for _, s := range c.sessions {
			if s.kind == QueuedWriter && slices.Contains(blockedBy[s.pid], prev) {
				next = s
				break
			}
		}
		if next == nil || depth >= len(c.sessions) {
			break
		}
		parts = append(parts, name(next))
		prev = next.pid
		depth++
	}
	return strings.Join(parts, " ← ") + fmt.Sprintf("  (%d deep)", depth)
}

// pidsOf lists the sessions' pids.
func pidsOf(ss []*staged) string {
	parts := make([]string, len(ss))
	for i, s := range ss {
		parts[i] = strconv.Itoa(s.pid)
	}
	return "pids " + strings.Join(parts, " ")
}
