package engine

import (
	"context"
	"fmt"
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
