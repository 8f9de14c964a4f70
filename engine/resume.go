package engine

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/pgrunbook/pgrunbook/internal/activity"
	"github.com/pgrunbook/pgrunbook/internal/playbook"
	"github.com/pgrunbook/pgrunbook/internal/transcript"
)

// ResumeFrom continues a run from its transcript (Options.Resume).
type ResumeFrom struct {
	// Events are the transcript's events so far, from run_started on
	// (transcript.OpenAppend).
	Events []transcript.Event
	// By says who resumes the run, for run_resumed.
	By string
	// PlaybookChanged is the sha256 the run started with, when the
	// playbook changed since and the operator accepted it.
	PlaybookChanged string
	// DroppedLine is the cut-off last line OpenAppend removed.
	DroppedLine string
}

// Outcomes of reconciling an intent that has no recorded outcome, as the
// outcome of its action event. None of them re-sends the signal.
const (
	// ReconciledGone: the session has ended.
	ReconciledGone = "reconciled_gone"
	// ReconciledChanged: the session is there but is not as it was (for a
	// cancel, its statement is no longer running; for a terminate, its
	// transaction ended).
	ReconciledChanged = "reconciled_changed"
	// ReconciledUnchanged: the session is there as it was. A cancel is
	// not sent again (the verify after it decides, and escalates); a
	// terminate is offered again through a fresh confirmation.
	ReconciledUnchanged = "reconciled_unchanged"
)

// ResumePlan says where a resumed run goes on.
type ResumePlan struct {
	// Next is the index of the first step the resumed run runs (or
	// continues, when it has intents to reconcile); len(Steps) when
	// every step completed.
	Next int
	// Reconcile counts the intents' targets that have no outcome.
	Reconcile int
	// PreviousOutcome is how the earlier part ended; "" if it was killed.
	PreviousOutcome Outcome
	// Mode is the mode the earlier part ran in.
	Mode Mode
}

// PlanResume checks that a run recorded in events can be resumed with pb
// and params and says where it would go on. It reads no server.
func PlanResume(pb *playbook.Playbook, params playbook.Values, events []transcript.Event) (*ResumePlan, error) {
	r := &runner{pb: pb, scope: pb.NewScope(params), lastVerify: map[activity.SessionKey]bool{}, defaults: pb.Defaults()}
	st, err := r.rebuild(events)
	if err != nil {
		return nil, err
	}
	return st.plan(), nil
}

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

// resume continues the run in Options.Resume: it rebuilds the state of
// the completed steps, records run_resumed, reconciles the intents that
// have no outcome on a fresh snapshot, and runs the steps that did not
// complete. A confirmation that was not answered is asked again on a
// fresh table.
func (r *runner) resume(ctx context.Context) (Result, error) {
	from := r.opts.Resume
	st, err := r.rebuild(from.Events)
	if err != nil {
		// PlanResume refuses this before anything is written.
		return Result{Outcome: OutcomeRefused, ExitCode: ExitUsage, Message: err.Error()}, nil
	}
	plan := st.plan()
	if err := r.emit(r.resumedEvent(st, plan)); err != nil {
		return Result{}, err
	}
	r.from = plan.Next
	if oa := st.open(); oa != nil {
		r.from = oa.step.Index + 1
	}
	var res Result
	if err := r.reconcile(ctx, st); err != nil {
		res = r.endWith(ctx, err)
	} else {
		// The sets recorded by the earlier part may be old by now: the
		// first confirmation the resumed run asks (one that was not
		// answered, or a later one) re-runs its filter chain on a fresh
		// snapshot before it shows its table.
		r.refreshNext = true
		res = r.steps(ctx)
	}
	code := res.ExitCode
	if err := r.emit(transcript.Event{Type: transcript.RunFinished, Outcome: string(res.Outcome), ExitCode: &code, Message: res.Message}); err != nil {
		return res, err
	}
	return res, nil
}

func (r *runner) resumedEvent(st *resumeState, plan *ResumePlan) transcript.Event {
	from := r.opts.Resume
	server := r.opts.Server
	ev := transcript.Event{
		Type: transcript.RunResumed, Playbook: r.pb.Name, Path: r.pb.Path, SHA256: r.pb.SHA256,
		Mode: r.opts.Mode, Server: &server, Version: r.opts.Version, Steps: len(r.pb.Steps),
		Resumed: &transcript.Resumption{By: from.By, AfterSeq: st.lastSeq, PreviousOutcome: plan.PreviousOutcome,
			PlaybookChanged: from.PlaybookChanged, DroppedLine: from.DroppedLine, Reconcile: plan.Reconcile},
	}
	var parts []string
	if oa := st.open(); oa != nil {
		ev.StepIndex, ev.Step = oa.step.Index+1, oa.step.ID
		parts = append(parts, fmt.Sprintf("step %d (%s) recorded the intent to send %s to %d session(s) without an outcome: each is checked on a fresh snapshot, never re-sent blindly",
			oa.step.Index+1, oa.step.ID, oa.fn, len(oa.pending)+len(oa.reoffer)))
	} else if plan.Next < len(r.pb.Steps) {
		s := r.pb.Steps[plan.Next]
		ev.StepIndex, ev.Step = s.Index+1, s.ID
		parts = append(parts, fmt.Sprintf("going on at step %d (%s), the first that did not complete", s.Index+1, s.ID))
	} else {
		parts = append(parts, "every step had completed")
	}
	if from.PlaybookChanged != "" {
		parts = append(parts, "the playbook changed since the run started (sha256 "+from.PlaybookChanged+"), accepted with --accept-changed-playbook")
	}
	if from.DroppedLine != "" {
		parts = append(parts, fmt.Sprintf("the transcript's last line was cut off mid-write (%d bytes); it was removed from the file and is kept in this event", len(from.DroppedLine)))
	}
	ev.Text = "resumed: " + strings.Join(parts, "; ")
	return ev
}

// reconcile checks each open target of an intent without an outcome on a
// fresh snapshot and records what it finds as the target's outcome: gone,
// changed, or unchanged. Nothing is re-sent: an unchanged cancel is left
// to the verify after it, an unchanged terminate is offered again
// through a fresh confirmation.
func (r *runner) reconcile(ctx context.Context, st *resumeState) error {
	oa := st.open()
	if oa == nil {
		return nil
	}
	step := oa.step
	snap, err := r.snapshot(ctx)
	if err != nil {
		return err
	}
	sev := r.stepEvent(step, transcript.Snapshot)
	sev.Taken, sev.Rows, sev.ServerFacts, sev.Text = &snap.Taken, snap.Rows, &snap.Server, reconcileText
	if err := r.emit(sev); err != nil {
		return err
	}
	var outcomes []transcript.Event
	for _, id := range oa.pending {
		outcome, msg := reconcileOne(oa.fn, id, snap.Find(id))
		ev := r.stepEvent(step, transcript.Action)
		bs := id.BackendStart
		ev.Function, ev.PID, ev.BackendStart, ev.Outcome, ev.Message = oa.fn, id.PID, &bs, outcome, msg
		if oa.fn == activity.Cancel {
			qs := id.QueryStart
			ev.QueryStart = &qs
		}
		outcomes = append(outcomes, ev)
	}
	if err := r.emitAll(outcomes); err != nil {
		return err
	}
	for _, ev := range outcomes {
		r.record(st, oa, ev)
	}
	r.scope.Put(step.ID, oa.sets)
	if len(oa.reoffer) == 0 {
		return nil
	}
	var rows []activity.Session
	for _, id := range oa.reoffer {
		if now := snap.Find(id); now != nil {
			rows = append(rows, *now)
		}
	}
	oa.reoffer = nil
	targets, err := r.approve(ctx, approval{
		step: step, ref: step.Action.Targets, action: step.Kind, limit: r.limitOf(step),
		backendTypes: step.Action.BackendTypes, rows: nonNil(rows),
		question: "The intent to terminate these sessions has no recorded outcome, and they are still there as they were. Terminate them now?",
	})
	if err != nil {
		return err
	}
	if len(targets) == 0 {
		note := r.stepEvent(step, transcript.Note)
		note.Text = "Not terminated again."
		r.scope.Put(step.ID, oa.sets)
		return r.emit(note)
	}
	return r.send(ctx, step, targets, oa.sets)
}

// reconcileOne says what became of one target of an intent without an
// outcome, from its row in a fresh snapshot (nil if it has ended).
func reconcileOne(fn activity.Function, id activity.Identity, now *activity.Session) (string, string) {
	switch {
	case now == nil:
		return ReconciledGone, "the session has ended; nothing is sent"
	case fn == activity.Cancel && (!now.QueryStart.Equal(id.QueryStart) || now.State != "active"):
		return ReconciledChanged, "the statement is no longer running (the cancel may have worked, or it finished); nothing is sent"
	case fn == activity.Cancel:
		return ReconciledUnchanged, "the statement still runs as it was: the cancel may have been ignored or never sent; it is not sent again, the verify decides and the playbook escalates"
	case !now.XactStart.Equal(id.XactStart):
		return ReconciledChanged, "the session's transaction is not the one it was; nothing is sent"
	}
	return ReconciledUnchanged, "the session is still there as it was: terminating it is asked again on a fresh table"
}

// Texts that mark snapshot and prompt events, read back by rebuild.
const (
	refreshedText = "refreshed"
	reconcileText = "reconcile: a fresh look at the targets of an intent without an outcome"
	staleText     = "answered after the table was stale; it was refreshed before acting"
)

// refreshFor re-reads an approval's sessions on a fresh snapshot: the
// set its ref names (the filter chain re-run, see refresh), or, for an
// approval of given rows, those sessions' fresh rows.
func (r *runner) refreshFor(ctx context.Context, a approval) ([]activity.Session, error) {
	if a.rows == nil {
		return r.refresh(ctx, a.step, a.ref)
	}
	snap, err := r.snapshot(ctx)
	if err != nil {
		return nil, err
	}
	ev := r.stepEvent(a.step, transcript.Snapshot)
	ev.Taken, ev.Rows, ev.Text = &snap.Taken, snap.Rows, reconcileText
	if err := r.emit(ev); err != nil {
		return nil, err
	}
	out := []activity.Session{}
	for _, s := range a.rows {
		if now := snap.Find(s.Identity()); now != nil {
			out = append(out, *now)
		}
	}
	return out, nil
}
