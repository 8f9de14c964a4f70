package rehearse

import (
	"context"
	"fmt"
	"io"
	"net"
	"strconv"
	"time"

	"github.com/pgrunbook/pgrunbook/internal/incident"
)

// staged is one staged session.
type staged struct {
	kind Kind
	// name tells the session apart in the report: its application, or
	// app#N when several share one.
	name string
	// app is its application_name.
	app          string
	pid          int
	backendStart time.Time
	query        string
	sess         *incident.Session       // every kind but ClientNotReading and StormQuery
	stalled      *incident.StalledClient // ClientNotReading
	storm        *incident.StormSession  // StormQuery
}

// role is the session's role.
func (s *staged) role() Role { return s.kind.Role() }

// background reports whether the session runs a statement in the
// background whose end its client sees.
func (s *staged) background() bool {
	switch s.kind {
	case LongQuery, StubbornQuery, QueuedWriter, Backup, QueuedDDL, QueuedReader, StormQuery, CPUHog:
		return true
	}
	return false
}

// done returns the channel closed when the session's client has seen its
// (first) statement end; nil (never ready) for a session without one.
func (s *staged) done() <-chan struct{} {
	switch {
	case !s.background():
		return nil
	case s.storm != nil:
		return s.storm.FirstEnded()
	}
	return s.sess.Done()
}

// finished reports whether the client has seen its (first) statement end.
func (s *staged) finished() bool {
	if !s.background() {
		return false
	}
	select {
	case <-s.done():
		return true
	default:
		return false
	}
}

// err is how the (first) statement ended, once finished.
func (s *staged) err() error {
	if s.storm != nil {
		return s.storm.FirstErr()
	}
	return s.sess.Err()
}

// alive reports whether the session's own connection still answers.
func (s *staged) alive(ctx context.Context) bool {
	switch {
	case s.storm != nil:
		return s.storm.Alive(ctx)
	case s.sess != nil:
		return s.sess.Alive(ctx)
	}
	return false
}

// close ends the session (terminating a backend still running its
// statement).
func (s *staged) close() {
	switch {
	case s.sess != nil:
		s.sess.Close()
	case s.stalled != nil:
		s.stalled.Close()
	case s.storm != nil:
		s.storm.Close()
	}
}

// incidentCast is a scenario's staged sessions, and what staging saw of
// the incident as a whole.
type incidentCast struct {
	sessions []*staged
	// stagedAt is a moment at which every staged statement was already
	// running or waiting.
	stagedAt time.Time
	before   worldBefore
}

// stage opens the scenario's sessions in order, printing each. Sessions
// opened before an error stay in c.sessions, for closeAll.
func (c *incidentCast) stage(ctx context.Context, out io.Writer, dsn string, sc Scenario) error {
	count := map[Kind]int{}
	for _, k := range sc.Cast {
		info := kinds[k]
		count[k]++
		app, name := info.app, info.app
		switch info.naming {
		case numberedApps:
			app += "-" + strconv.Itoa(count[k])
			name = app
		case sharedApp:
			name += "#" + strconv.Itoa(count[k])
		}
		if k == IdleFlood {
			name = info.app + " ×N"
		}
		fmt.Fprintf(out, "  staging %-17s %s\n", name, info.what)
		s := &staged{kind: k, name: name, app: app}
		var err error
		switch k {
		case LongQuery:
			s.sess, err = incident.LongQuery(ctx, dsn, app, stagedFor)
		case Backup:
			s.sess, err = incident.Dump(ctx, dsn, app, lockTable, stagedFor)
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
		case QueuedDDL:
			s.sess, err = incident.AlterAddColumn(ctx, dsn, app, lockTable, ddlColumn)
		case QueuedReader:
			s.sess, err = incident.Reader(ctx, dsn, app, lockTable)
		case SnapshotHolder:
			s.sess, c.before.pinnedXmin, err = incident.SnapshotHolder(ctx, dsn, app, lockTable)
		case StormQuery:
			s.storm, err = incident.Storm(ctx, dsn, app, stormSQL, stormPause)
		case OtherApp:
			s.sess, err = incident.IdleAs(ctx, dsn, app, info.app)
		case DeadClient:
			s.sess, err = incident.IdleFrom(ctx, dsn, app, net.ParseIP(deadClientAddr))
		case CPUHog:
			s.sess, err = incident.CPUHog(ctx, dsn, app)
		case IdleFlood:
			err = c.stageFlood(ctx, out, dsn, info)
			if err == nil {
				continue
			}
		}
		if err != nil {
			return fmt.Errorf("stage %s (%s): %w", name, info.what, err)
		}
		s.identify()
		c.sessions = append(c.sessions, s)
	}
	c.stagedAt = time.Now()
	return c.before.read(ctx, dsn, sc)
}

// stageFlood fills the server's ordinary connection slots with one
// application's idle sessions.
func (c *incidentCast) stageFlood(ctx context.Context, out io.Writer, dsn string, info kindInfo) error {
	flood, err := incident.FillConnections(ctx, dsn, info.app, info.app, 2*floodSessions)
	if err != nil {
		return err
	}
	for i, sess := range flood.Sessions {
		s := &staged{kind: IdleFlood, name: info.app + "#" + strconv.Itoa(i+1), app: info.app, sess: sess}
		s.identify()
		c.sessions = append(c.sessions, s)
	}
	c.before.refused = flood.Refused
	fmt.Fprintf(out, "  %d %s sessions connected; the next one was refused: SQLSTATE %s (%s)\n",
		len(flood.Sessions), info.app, flood.Refused.Code, flood.Refused.Message)
	return nil
}

// identify copies the session's backend identity and statement.
func (s *staged) identify() {
	switch {
	case s.sess != nil:
		s.pid, s.backendStart, s.query = s.sess.PID, s.sess.BackendStart, s.sess.Query
	case s.stalled != nil:
		s.pid, s.backendStart, s.query = s.stalled.PID, s.stalled.BackendStart, s.stalled.Query
	case s.storm != nil:
		s.pid, s.backendStart, s.query = s.storm.PID, s.storm.BackendStart, s.storm.Query
	}
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

// ofKind returns the staged sessions of kind k.
func (c *incidentCast) ofKind(k Kind) []*staged {
	var out []*staged
	for _, s := range c.sessions {
		if s.kind == k {
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

// cut shortens s to at most n runes.
func cut(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n-1]) + "…"
}
