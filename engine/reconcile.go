package engine

import (
	"context"

	"github.com/pgrunbook/pgrunbook/internal/activity"
	"github.com/pgrunbook/pgrunbook/internal/transcript"
)

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
