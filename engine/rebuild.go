package engine

import (
	"fmt"
	"slices"

	"github.com/pgrunbook/pgrunbook/internal/activity"
	"github.com/pgrunbook/pgrunbook/internal/playbook"
	"github.com/pgrunbook/pgrunbook/internal/transcript"
)

// Rebuilding a run's state from its transcript, for resume.go: every
// event the earlier part recorded is replayed into the runner's sets,
// verify results and problems, without reading the server.

// openAction is the record of an action step: its outcomes so far and
// its targets still open.
type openAction struct {
	step *playbook.Step
	fn   activity.Function
	// pending are the targets of intents without an outcome.
	pending []activity.Identity
	// reoffer are terminate targets found unchanged by a reconciliation,
	// to be confirmed again before anything is sent.
	reoffer []activity.Identity
	sets    playbook.ActionSets
	// intent is true once the step recorded an intent.
	intent bool
}

// resumeState is what rebuild learnt from a transcript.
type resumeState struct {
	// started is the index of the last step that started, -1 for none;
	// complete says whether it completed.
	started  int
	complete bool
	finished bool
	outcome  Outcome
	mode     Mode
	// firstMode is the mode of run_started.
	firstMode Mode
	// selected holds the rows of each step's last selected event.
	selected map[int][]activity.Session
	actions  map[int]*openAction
	lastSeq  int64
}

func (s *resumeState) plan() *ResumePlan {
	p := &ResumePlan{Next: s.next(), Mode: s.firstMode}
	if s.finished {
		p.PreviousOutcome = s.outcome
	}
	if oa := s.open(); oa != nil {
		p.Reconcile = len(oa.pending) + len(oa.reoffer)
	}
	return p
}

// next is the index of the first step that did not complete.
func (s *resumeState) next() int {
	if s.complete {
		return s.started + 1
	}
	return max(s.started, 0)
}

// open is the action step with open targets, which can only be the last
// step that started.
func (s *resumeState) open() *openAction {
	if s.complete || s.started < 0 {
		return nil
	}
	if oa := s.actions[s.started]; oa != nil && oa.intent {
		return oa
	}
	return nil
}

// ResumeError is why a run cannot be resumed.
type ResumeError struct{ Reason string }

func (e *ResumeError) Error() string { return e.Reason }

func resumeErrorf(format string, args ...any) error {
	return &ResumeError{Reason: fmt.Sprintf(format, args...)}
}

// finalOutcomes are the endings after which there is nothing to resume.
var finalOutcomes = []Outcome{OutcomeDone, OutcomeFailed, OutcomeAborted, OutcomeRefused}

// rebuild replays the transcript's events into the runner's state: the
// sets of the completed steps (recorded as selected, snapshot, prompt,
// action, verified... events), which sessions failed their last verify,
// the problems, the latest snapshot, and where the run stopped.
func (r *runner) rebuild(events []transcript.Event) (*resumeState, error) {
	if len(events) == 0 || events[0].Type != transcript.RunStarted {
		return nil, resumeErrorf("the transcript does not start with run_started")
	}
	first := events[0]
	if first.Playbook != r.pb.Name {
		return nil, resumeErrorf("the transcript is a run of playbook %q, not %q", first.Playbook, r.pb.Name)
	}
	st := &resumeState{started: -1, mode: first.Mode, firstMode: first.Mode,
		selected: map[int][]activity.Session{}, actions: map[int]*openAction{}}
	for _, ev := range events[1:] {
		st.lastSeq = ev.Seq
		if err := r.apply(st, ev); err != nil {
			return nil, fmt.Errorf("event seq %d (%s): %w", ev.Seq, ev.Type, err)
		}
	}
	if st.finished && slices.Contains(finalOutcomes, st.outcome) {
		return nil, resumeErrorf("the run ended %s: there is nothing to resume (start a new run with pgrunbook run)", st.outcome)
	}
	return st, nil
}

// apply replays one event.
func (r *runner) apply(st *resumeState, ev transcript.Event) error {
	switch ev.Type {
	case transcript.RunStarted:
		return resumeErrorf("a second run_started")
	case transcript.RunResumed:
		st.finished, st.mode = false, ev.Mode
		return nil
	case transcript.RunFinished:
		st.finished, st.outcome = true, ev.RunOutcome()
		return nil
	}
	if ev.StepIndex == 0 {
		return nil // reconnect warnings and notes, the guidance
	}
	if ev.StepIndex > len(r.pb.Steps) || r.pb.Steps[ev.StepIndex-1].ID != ev.Step {
		return resumeErrorf("the transcript's step %d is %q, which is not the playbook's step %d: the playbook's steps changed, so the run cannot be resumed", ev.StepIndex, ev.Step, ev.StepIndex)
	}
	step := r.pb.Steps[ev.StepIndex-1]
	i := step.Index
	done := func(v any) {
		if v != nil {
			r.scope.Put(step.ID, v)
		}
		st.started, st.complete = i, true
	}
	switch ev.Type {
	case transcript.StepStarted:
		st.started, st.complete = i, false
		delete(st.selected, i)
		if step.Action != nil {
			st.actions[i] = &openAction{step: step}
		}
	case transcript.StepSkipped:
		done(nil)
	case transcript.Snapshot:
		if ev.Taken != nil {
			snap := &activity.Snapshot{Taken: *ev.Taken, Rows: ev.Rows}
			if ev.ServerFacts != nil {
				snap.Server = *ev.ServerFacts
			}
			r.latest, r.taken = snap, snap.Taken
			r.scope.SetServer(snap.Server)
			if ev.Text == refreshedText {
				if ref, ok := approvalRef(step); ok {
					if _, err := r.recompute(ref, snap, 0); err != nil {
						return err
					}
				}
			}
		}
		if step.Kind == playbook.KindActivity && !step.Activity.Multi() {
			done(ev.Rows)
		}
	case transcript.Selected:
		st.selected[i] = ev.Rows
		switch step.Kind {
		case playbook.KindActivity, playbook.KindFilter:
			done(nonNil(ev.Rows))
		case playbook.KindConfirm:
			if len(ev.Rows) == 0 {
				done([]activity.Session{})
			}
		}
	case transcript.Summary:
		s := step.Summarize
		groups, _ := s.Groups(r.scope.Sessions(s.From))
		done(s.Value(groups))
	case transcript.Horizon:
		if ev.Holders != nil {
			h := *ev.Holders
			h.Slots, h.Prepared, h.Standbys = nonNilSlice(h.Slots), nonNilSlice(h.Prepared), nonNilSlice(h.Standbys)
			done(h)
		}
	case transcript.Prompt:
		if step.Kind != playbook.KindConfirm || ev.Text == staleText {
			return nil
		}
		switch Choice(ev.Answer) {
		case ChooseAll, ChooseSubset:
			approved := []activity.Session{}
			for _, s := range st.selected[i] {
				if slices.Contains(ev.Chosen, s.PID) {
					approved = append(approved, s)
				}
			}
			done(approved)
		case ChooseSkip:
			done([]activity.Session{})
		}
	case transcript.Intent:
		oa := st.action(step)
		oa.intent, oa.fn = true, ev.Function
		for _, id := range ev.Targets {
			oa.reoffer = slices.DeleteFunc(oa.reoffer, func(x activity.Identity) bool { return x.PID == id.PID })
			oa.pending = append(oa.pending, id)
		}
		st.started, st.complete = i, false
	case transcript.Action:
		oa := st.action(step)
		r.record(st, oa, ev)
		r.scope.Put(step.ID, oa.sets)
		st.started, st.complete = i, len(oa.pending) == 0 && len(oa.reoffer) == 0
	case transcript.Note:
		switch {
		case step.Action != nil:
			oa := st.action(step)
			oa.reoffer = nil
			if len(oa.pending) == 0 {
				done(oa.sets)
			}
		case step.Kind == playbook.KindNote:
			done(nil)
		}
	case transcript.Waited:
		done(nil)
	case transcript.Verified:
		targets := r.scope.Sessions(step.Verify.Targets)
		sets := playbook.VerifySets{Passed: []activity.Session{}, Failed: []activity.Session{}}
		for _, t := range targets {
			switch {
			case slices.Contains(ev.Passed, t.PID):
				sets.Passed = append(sets.Passed, t)
			case slices.Contains(ev.Failed, t.PID):
				sets.Failed = append(sets.Failed, t)
			default:
				continue
			}
			if st.mode != DryRun {
				r.lastVerify[t.Key()] = slices.Contains(ev.Passed, t.PID)
			}
		}
		done(sets)
	}
	return nil
}

// action returns the record of an action step, starting one if needed.
func (s *resumeState) action(step *playbook.Step) *openAction {
	oa := s.actions[step.Index]
	if oa == nil {
		oa = &openAction{step: step}
		s.actions[step.Index] = oa
	}
	return oa
}

// record adds one action event's outcome to the step's sets, closing its
// target, as the run that wrote it did.
func (r *runner) record(st *resumeState, oa *openAction, ev transcript.Event) {
	var id activity.Identity
	if j := slices.IndexFunc(oa.pending, func(x activity.Identity) bool { return x.PID == ev.PID }); j >= 0 {
		id = oa.pending[j]
		oa.pending = slices.Delete(oa.pending, j, j+1)
	} else {
		id = activity.Identity{PID: ev.PID}
		if ev.BackendStart != nil {
			id.BackendStart = *ev.BackendStart
		}
	}
	row := r.rowOf(st, oa.step, id)
	fn := ev.Function
	switch ev.Outcome {
	case string(activity.Signalled), string(activity.DryRun):
		oa.sets.Signalled = append(oa.sets.Signalled, row)
	case string(activity.NotFound), ReconciledGone:
		oa.sets.NotFound = append(oa.sets.NotFound, row)
	case string(activity.Changed), ReconciledChanged:
		oa.sets.Changed = append(oa.sets.Changed, row)
	case string(activity.Denied):
		oa.sets.Denied = append(oa.sets.Denied, row)
		r.problems = append(r.problems, fmt.Sprintf("%s of pid %d was denied: %s", fn, ev.PID, ev.Message))
	case ReconciledUnchanged:
		if fn == activity.Terminate {
			oa.reoffer = append(oa.reoffer, id)
		} else {
			// Whether the cancel arrived is unknown; it is counted as
			// sent so that the verify after it checks the session and
			// the playbook escalates if it still runs.
			oa.sets.Signalled = append(oa.sets.Signalled, row)
		}
	default:
		oa.sets.Error = append(oa.sets.Error, row)
		r.problems = append(r.problems, fmt.Sprintf("%s of pid %d failed: %s", fn, ev.PID, ev.Message))
	}
}

// rowOf finds a target's row: in the step's own table, else in the set it
// acts on, else only its identity.
func (r *runner) rowOf(st *resumeState, step *playbook.Step, id activity.Identity) activity.Session {
	same := func(s activity.Session) bool {
		return s.PID == id.PID && (id.BackendStart.IsZero() || s.BackendStart.Equal(id.BackendStart))
	}
	if j := slices.IndexFunc(st.selected[step.Index], same); j >= 0 {
		return st.selected[step.Index][j]
	}
	rows := r.scope.Sessions(step.Action.Targets)
	if j := slices.IndexFunc(rows, same); j >= 0 {
		return rows[j]
	}
	return activity.Session{PID: id.PID, BackendStart: id.BackendStart, QueryStart: id.QueryStart, XactStart: id.XactStart}
}

// approvalRef is the set a confirmation at step asks about.
func approvalRef(step *playbook.Step) (playbook.SetRef, bool) {
	switch {
	case step.Confirm != nil:
		return step.Confirm.Targets, true
	case step.Action != nil:
		return step.Action.Targets, true
	}
	return playbook.SetRef{}, false
}

func nonNil(rows []activity.Session) []activity.Session {
	if rows == nil {
		return []activity.Session{}
	}
	return rows
}

func nonNilSlice[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}

// Texts that mark snapshot and prompt events, read back by rebuild.
const (
	refreshedText = "refreshed"
	reconcileText = "reconcile: a fresh look at the targets of an intent without an outcome"
	staleText     = "answered after the table was stale; it was refreshed before acting"
)
