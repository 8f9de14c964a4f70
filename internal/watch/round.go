package watch

import (
	"slices"
	"strings"

	"github.com/pgrunbook/pgrunbook/internal/activity"
	"github.com/pgrunbook/pgrunbook/internal/playbook"
	"github.com/pgrunbook/pgrunbook/internal/transcript"
)

// Round is what one round of a watch found and did, gathered from its
// events by Add. It keeps no snapshot rows, only targets.
type Round struct {
	// Number counts rounds from 1.
	Number int
	// Targets are the sessions a confirmation or an action step was
	// about (eligible, after protections), in the order first seen.
	Targets []activity.Session
	// Actions are the round's action events, one per session signalled
	// (or, in a dry run, that would have been).
	Actions []transcript.Event
	// Warnings are the texts of the round's warnings.
	Warnings []string
	// Outcome and Message are the round's run_finished.
	Outcome transcript.RunOutcome
	Message string
	// seen indexes Targets by identity: a pid reused by a new backend is
	// another session.
	seen map[activity.SessionKey]bool
}

// index returns the identities of sessions.
func index(sessions []activity.Session) map[activity.SessionKey]bool {
	m := make(map[activity.SessionKey]bool, len(sessions))
	for i := range sessions {
		m[sessions[i].Key()] = true
	}
	return m
}

// Add takes one event of the round into account.
func (r *Round) Add(ev transcript.Event) {
	switch ev.Type {
	case transcript.Selected:
		if ev.Kind != playbook.KindConfirm && ev.Kind != playbook.KindCancel && ev.Kind != playbook.KindTerminate {
			return
		}
		if r.seen == nil {
			r.seen = index(r.Targets)
		}
		for i := range ev.Rows {
			id := ev.Rows[i].Key()
			if !r.seen[id] {
				r.seen[id] = true
				s := ev.Rows[i]
				s.Query = trimQuery(s.Query)
				r.Targets = append(r.Targets, s)
			}
		}
	case transcript.Action:
		r.Actions = append(r.Actions, ev)
	case transcript.Warning:
		r.Warnings = append(r.Warnings, ev.Text)
	case transcript.RunFinished:
		r.Outcome, r.Message = ev.RunOutcome(), ev.Message
	}
}

// Quiet reports whether the round found no target, took no action,
// warned of nothing and ended done: nothing in its transcript matters.
func (r *Round) Quiet() bool {
	return len(r.Targets) == 0 && len(r.Actions) == 0 && len(r.Warnings) == 0 && r.Outcome == transcript.RunDone
}

// Signalled counts the round's actions that were sent and acted on.
func (r *Round) Signalled() int {
	n := 0
	for _, a := range r.Actions {
		if a.SignalOutcome() == activity.Signalled {
			n++
		}
	}
	return n
}

// Change is how a round differs from the one before it: what the screen
// shows.
type Change struct {
	// New are targets the previous round did not have; Gone are the
	// previous round's targets this one does not have.
	New, Gone []activity.Session
	// Actions are the round's signals actually sent (every one), and, in
	// a dry run, the would-be signals of new targets.
	Actions []transcript.Event
	// Warnings are warnings the previous round did not give.
	Warnings []string
	// OutcomeChanged is set when the round ended differently from the
	// previous one (outcome or message).
	OutcomeChanged bool
}

// Empty reports whether nothing changed.
func (c Change) Empty() bool {
	return len(c.New) == 0 && len(c.Gone) == 0 && len(c.Actions) == 0 && len(c.Warnings) == 0 && !c.OutcomeChanged
}

// Diff is how cur differs from prev; prev is nil before the first round,
// which is compared with a quiet round.
func Diff(prev, cur *Round) Change {
	if prev == nil {
		prev = &Round{Outcome: transcript.RunDone}
	}
	var c Change
	before, now := index(prev.Targets), index(cur.Targets)
	for i := range cur.Targets {
		if !before[cur.Targets[i].Key()] {
			c.New = append(c.New, cur.Targets[i])
		}
	}
	for i := range prev.Targets {
		if !now[prev.Targets[i].Key()] {
			c.Gone = append(c.Gone, prev.Targets[i])
		}
	}
	isNew := index(c.New)
	for _, a := range cur.Actions {
		if a.SignalOutcome() != activity.DryRun {
			c.Actions = append(c.Actions, a)
			continue
		}
		if a.BackendStart != nil && isNew[activity.Identity{PID: a.PID, BackendStart: *a.BackendStart}.Key()] {
			c.Actions = append(c.Actions, a)
		}
	}
	for _, w := range cur.Warnings {
		if !slices.Contains(prev.Warnings, w) {
			c.Warnings = append(c.Warnings, w)
		}
	}
	c.OutcomeChanged = cur.Outcome != prev.Outcome || cur.Message != prev.Message
	return c
}

// trimQuery keeps the start of a query: the screen shows one line of it,
// and a watch must not hold every target's full text between rounds.
func trimQuery(q string) string {
	const keep = 512
	if len(q) > keep {
		return strings.ToValidUTF8(q[:keep], "")
	}
	return q
}
