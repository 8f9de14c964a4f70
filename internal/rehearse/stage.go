package rehearse

import (
	"context"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/pgrunbook/pgrunbook/internal/pg/incident"
)

// Kind is what a staged session does, and so how a good run treats it.
type Kind int

// The kinds of staged sessions.
const (
	// LongQuery is a culprit running a long statement: cancel it, and
	// its session stays connected.
	LongQuery Kind = iota
	// StubbornQuery is a culprit whose statement catches query_canceled:
	// its cancel is ignored, so it must be terminated.
	StubbornQuery
	// IdleInTransaction is a culprit idle in a transaction that holds a
	// row lock: cancel does nothing, terminate rolls it back.
	IdleInTransaction
	// ClientNotReading is a culprit blocked sending rows to a client that
	// stopped reading (wait event ClientWrite): only terminate works.
	ClientNotReading
	// QueuedWriter is a victim: an UPDATE waiting for the row lock, which
	// must commit once the lock is released.
	QueuedWriter
	// Backup is a bystander running a long statement as application
	// pg_dump: long, but to be left alone (the shipped playbooks protect
	// it).
	Backup
	// IdleBystander is a bystander connected and idle.
	IdleBystander
)

// Role is what a kind of session is to the incident.
type Role int

// Roles of staged sessions.
const (
	Culprit Role = iota
	Victim
	Bystander
)

// kindInfo describes a kind for the report.
type kindInfo struct {
	app    string // application_name; writers get "-N" appended
	role   Role
	what   string // staged as
	expect string // what a good run does
}

var kinds = map[Kind]kindInfo{
	LongQuery:         {"reporting", Culprit, "long report query", "cancel the statement; the session stays"},
	StubbornQuery:     {"etl", Culprit, "DO block that catches query_canceled", "cancel is ignored: terminate"},
	IdleInTransaction: {"forgot-to-commit", Culprit, "idle in transaction, holding the row lock", "terminate (cancel cannot help)"},
	ClientNotReading:  {"export", Culprit, "blocked sending rows to a client that stopped reading", "cancel stays pending: terminate"},
	QueuedWriter:      {"checkout", Victim, "UPDATE waiting for the row lock", "must commit once the lock is free"},
	Backup:            {"pg_dump", Bystander, "nightly backup, a long statement", "leave alone (protected)"},
	IdleBystander:     {"bystander", Bystander, "idle session", "leave alone"},
}

// Role returns the kind's role.
func (k Kind) Role() Role { return kinds[k].role }

// The staged world.
const (
	// Database is the database a rehearsal creates and stages in.
	Database = "rehearsal"
	// lockTable holds the row the idle transaction keeps locked.
	lockTable = "stock"
	lockRow   = 1
	// stagedFor is how long staged statements would run on their own:
	// far longer than any rehearsal.
	stagedFor = 10 * time.Minute
)

// staged is one staged session.
type staged struct {
	kind         Kind
	app          string
	pid          int
	backendStart time.Time
	query        string
	sess         *incident.Session       // all kinds but ClientNotReading
	stalled      *incident.StalledClient // ClientNotReading
}

// role is the session's role.
func (s *staged) role() Role { return s.kind.Role() }

// background reports whether the session runs a statement in the
// background whose end its client sees.
func (s *staged) background() bool {
	switch s.kind {
	case LongQuery, StubbornQuery, QueuedWriter, Backup:
		return true
	}
	return false
}

// done returns the channel closed when the session's client has seen its
// statement end; nil (never ready) for a session without one.
func (s *staged) done() <-chan struct{} {
	if !s.background() {
		return nil
	}
	return s.sess.Done()
}

// finished reports whether the client has seen its statement end.
func (s *staged) finished() bool {
	if !s.background() {
		return false
	}
	select {
	case <-s.sess.Done():
		return true
	default:
		return false
	}
}

// close ends the session (terminating a backend still running its
// statement).
func (s *staged) close() {
	if s.sess != nil {
		s.sess.Close()
	}
	if s.stalled != nil {
		s.stalled.Close()
	}
}

// incidentCast is a scenario's staged sessions.
type incidentCast struct {
	sessions []*staged
	// stagedAt is a moment at which every staged statement was already
	// running or waiting.
	stagedAt time.Time
}

// stage opens the scenario's sessions in order, printing each. Sessions
// opened before an error stay in c.sessions, for closeAll.
func (c *incidentCast) stage(ctx context.Context, out io.Writer, dsn string, sc Scenario) error {
	writers := 0
	for _, k := range sc.Cast {
		info := kinds[k]
		app := info.app
		if k == QueuedWriter {
			writers++
			app += "-" + strconv.Itoa(writers)
		}
		fmt.Fprintf(out, "  staging %-17s %s\n", app, info.what)
		s := &staged{kind: k, app: app}
		var err error
		switch k {
		case LongQuery, Backup:
			s.sess, err = incident.LongQuery(ctx, dsn, app, stagedFor)
		case StubbornQuery:
			s.sess, err = incident.StubbornQuery(ctx, dsn, app, stagedFor)
		case IdleInTransaction:
			s.sess, err = incident.IdleInTransaction(ctx, dsn, app, lockTable, lockRow)
		case QueuedWriter:
			s.sess, err = incident.Writer(ctx, dsn, app, lockTable, lockRow)
		case ClientNotReading:
			s.stalled, err = incident.ClientNotReading(ctx, dsn, app)
		case IdleBystander:
			s.sess, err = incident.Idle(ctx, dsn, app)
		}
		if err != nil {
			return fmt.Errorf("stage %s (%s): %w", app, info.what, err)
		}
		if s.sess != nil {
			s.pid, s.backendStart, s.query = s.sess.PID, s.sess.BackendStart, s.sess.Query
		} else {
			s.pid, s.backendStart, s.query = s.stalled.PID, s.stalled.BackendStart, s.stalled.Query
		}
		c.sessions = append(c.sessions, s)
	}
	c.stagedAt = time.Now()
	return nil
}

// closeAll ends every staged session and returns how many there were.
func (c *incidentCast) closeAll() int {
	for _, s := range c.sessions {
		s.close()
	}
	return len(c.sessions)
}

// ofRole returns the staged sessions with the given role.
func (c *incidentCast) ofRole(r Role) []*staged {
	var out []*staged
	for _, s := range c.sessions {
		if s.role() == r {
			out = append(out, s)
		}
	}
	return out
}

// byPID returns the staged session with the given pid, or nil.
func (c *incidentCast) byPID(pid int) *staged {
	for _, s := range c.sessions {
		if s.pid == pid {
			return s
		}
	}
	return nil
}

// print lists what was staged, with the lock chain as the server shows it
// and pgbench's sessions.
func (c *incidentCast) print(out io.Writer, backends []incident.Backend, load *load) {
	fmt.Fprintf(out, "\n  %-8s %-17s %-54s %s\n", "PID", "APPLICATION", "STAGED AS", "A GOOD RUN")
	for _, s := range c.sessions {
		info := kinds[s.kind]
		what := info.what
		if s.query != "" && (s.kind == LongQuery || s.kind == Backup || s.kind == QueuedWriter) {
			what += ": " + s.query
		}
		fmt.Fprintf(out, "  %-8d %-17s %-54s %s\n", s.pid, s.app, cut(what, 54), info.expect)
	}
	if load != nil {
		fmt.Fprintf(out, "  %-8s %-17s %-54s %s\n", "pgbench", fmt.Sprintf("%d sessions", len(load.before)),
			"TPC-B-like load at "+strconv.Itoa(load.rate)+" tps", "leave alone; no client may abort")
	}
	if chain := lockChain(backends, c); chain != "" {
		fmt.Fprintf(out, "  lock chain: %s\n", chain)
	}
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
	label := func(s *staged) string { return fmt.Sprintf("%d (%s)", s.pid, s.app) }
	parts := []string{label(root) + " idle in transaction"}
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
		parts = append(parts, label(next))
		prev = next.pid
		depth++
	}
	return strings.Join(parts, " ← ") + fmt.Sprintf("  (%d deep)", depth)
}

// cut shortens s to at most n runes.
func cut(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n-1]) + "…"
}
