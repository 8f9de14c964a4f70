package engine

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/pgrunbook/pgrunbook/internal/activity"
	"github.com/pgrunbook/pgrunbook/internal/playbook"
	"github.com/pgrunbook/pgrunbook/internal/transcript"
)

// action cancels or terminates the sessions of a set. Sessions that did
// not pass through a confirm step are confirmed here, so nothing is ever
// signalled in an interactive run without the operator's answer.
//
// Round trips: one Signal statement for the whole set (plus, only if the
// server refuses it with 42501, one per target); no snapshot is taken here,
// the identity check is in the signalling statement itself.
func (r *runner) action(ctx context.Context, st *playbook.Step) error {
	a := st.Action
	rows := r.scope.Sessions(a.Targets)
	limit := r.limitOf(st)
	var targets []activity.Session
	if src := r.stepByID(a.Targets.Step); src != nil && src.Kind == playbook.KindConfirm && a.Targets.Part == "" {
		// Approved already; the safety rules and the limit still hold.
		var excluded []transcript.Excluded
		var err error
		targets, excluded, err = r.eligible(rows, a.BackendTypes)
		if err != nil {
			return err
		}
		if len(excluded) > 0 {
			sel := r.stepEvent(st, transcript.Selected)
			sel.Set, sel.Rows, sel.Excluded = st.ID, targets, excluded
			if err := r.emit(sel); err != nil {
				return err
			}
		}
		if len(targets) > limit {
			return &stopError{Result{Outcome: OutcomeRefused, ExitCode: ExitFailed,
				Message: fmt.Sprintf("step %d: %d approved sessions exceed max_targets %d; nothing was signalled", st.Index+1, len(targets), limit)}}
		}
	} else {
		var err error
		targets, err = r.approve(ctx, approval{step: st, ref: a.Targets, action: st.Kind, limit: limit, backendTypes: a.BackendTypes})
		if err != nil {
			return err
		}
	}

	return r.send(ctx, st, targets, playbook.ActionSets{})
}

// send signals the approved targets of an action step, recording the
// intent before and the outcomes after, adds the outcomes to sets and
// makes them the step's sets.
func (r *runner) send(ctx context.Context, st *playbook.Step, targets []activity.Session, sets playbook.ActionSets) error {
	a := st.Action
	fn := activity.Cancel
	if st.Kind == playbook.KindTerminate {
		fn = activity.Terminate
	}
	if len(targets) == 0 {
		note := r.stepEvent(st, transcript.Note)
		note.Text = "No session to " + st.Kind + "."
		r.scope.Put(st.ID, sets)
		return r.emit(note)
	}
	reqs := make([]activity.SignalTarget, len(targets))
	ids := make([]activity.Identity, len(targets))
	for i, s := range targets {
		ids[i] = s.Identity()
		reqs[i] = activity.SignalTarget{Identity: ids[i], BackendType: s.BackendType, CheckQuery: fn == activity.Cancel, CheckXact: fn == activity.Terminate}
		if fn == activity.Terminate {
			reqs[i].WaitFor = a.Timeout
		}
	}
	if r.opts.BeforeSignal != nil {
		if err := r.opts.BeforeSignal(fn, ids); err != nil {
			return &stopError{Result{Outcome: OutcomeRefused, ExitCode: ExitFailed,
				Message: fmt.Sprintf("step %d: %v; this step signalled nothing", st.Index+1, err)}}
		}
	}
	// The intent is on disk before anything is sent.
	intent := r.stepEvent(st, transcript.Intent)
	intent.Function, intent.Targets = fn, ids
	if fn == activity.Terminate && a.Timeout > 0 {
		intent.WaitFor, intent.Text = a.Timeout, r.waitText(a.Timeout)
	}
	if err := r.emit(intent); err != nil {
		return err
	}

	var lost error // set when the connection died during the signal
	// A Ctrl-C after the intent must not leave the outcome unknown: the
	// statement is bounded by statement_timeout anyway. A dry run's
	// database sends nothing and answers dry_run (modes.go).
	results, err := r.db.Signal(context.WithoutCancel(ctx), fn, reqs, a.BackendTypes)
	var stop error // set when the connection could not be restored
	if notSent(err) {
		// The connection had died before the statement (after the last
		// one's audit block, say), and nothing was sent: restore it and
		// send, for the first time. The intent is on disk already.
		if stop = r.reconnect(ctx, err); stop == nil {
			results, err = r.db.Signal(context.WithoutCancel(ctx), fn, reqs, a.BackendTypes)
		}
	}
	if err != nil && len(results) == len(targets) {
		// The outcomes that stand come back with the error; the others
		// are errors already.
		if connectionLost(err) {
			lost = err
		}
	} else if err != nil {
		msg := err.Error()
		switch {
		case notSent(err):
			msg += "; nothing was sent"
		case connectionLost(err):
			// The statement may or may not have signalled: never
			// re-send on a guess. The next verify checks each
			// session by identity on a fresh snapshot.
			msg += "; outcome unknown, not re-sent: the next verify checks these sessions on a fresh snapshot"
		}
		results = make([]activity.SignalResult, len(targets))
		for i, s := range targets {
			results[i] = activity.SignalResult{PID: s.PID, Outcome: activity.Error, Message: msg}
		}
		if connectionLost(err) {
			lost = err
		}
	}
	// The outcomes of one statement are recorded with one sync.
	outcomes := make([]transcript.Event, len(results))
	for i, res := range results {
		s := targets[i]
		ev := r.stepEvent(st, transcript.Action)
		bs := s.BackendStart
		ev.Function, ev.PID, ev.BackendStart, ev.Outcome, ev.Message = fn, s.PID, &bs, string(res.Outcome), res.Message
		if fn == activity.Cancel {
			qs := s.QueryStart
			ev.QueryStart = &qs
		}
		outcomes[i] = ev
	}
	if ap, ok := r.opts.DB.(auditProblems); ok {
		if msg := ap.TakeAuditProblem(); msg != "" {
			warn := r.stepEvent(st, transcript.Warning)
			warn.Text = msg
			outcomes = append(outcomes, warn)
		}
	}
	if err := r.emitAll(outcomes); err != nil {
		return err
	}
	sets.Signalled = slices.Grow(sets.Signalled, len(targets))
	for i, res := range results {
		s := targets[i]
		switch res.Outcome {
		case activity.Signalled, activity.DryRun:
			sets.Signalled = append(sets.Signalled, s)
		case activity.NotFound:
			sets.NotFound = append(sets.NotFound, s)
		case activity.Changed:
			sets.Changed = append(sets.Changed, s)
		case activity.Denied:
			sets.Denied = append(sets.Denied, s)
			r.problems = append(r.problems, fmt.Sprintf("%s of pid %d was denied: %s", fn, s.PID, res.Message))
		default:
			sets.Error = append(sets.Error, s)
			r.problems = append(r.problems, fmt.Sprintf("%s of pid %d failed: %s", fn, s.PID, res.Message))
		}
	}
	r.scope.Put(st.ID, sets)
	if stop != nil {
		return stop
	}
	if lost != nil {
		return r.reconnect(ctx, lost)
	}
	return nil
}

// auditProblems is a Database that writes a server log line for each
// signal (safety rule 9) and can say why it could not.
type auditProblems interface {
	TakeAuditProblem() string
}

func (r *runner) stepByID(id string) *playbook.Step {
	for _, st := range r.pb.Steps {
		if st.ID == id {
			return st
		}
	}
	return nil
}

// waitText says what a terminate's timeout does on this server.
func (r *runner) waitText(d time.Duration) string {
	version := r.opts.Server.VersionNum
	if r.latest != nil && r.latest.Server.VersionNum > 0 {
		version = r.latest.Server.VersionNum
	}
	switch {
	case version == 0:
		return fmt.Sprintf("on PostgreSQL 14 and later the statement waits up to %s for each session to exit", d)
	case version < 140000:
		return fmt.Sprintf("timeout %s is ignored before PostgreSQL 14: the verify that follows does the waiting", d)
	}
	return fmt.Sprintf("the statement waits up to %s for each session to exit", d)
}
