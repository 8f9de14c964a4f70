package engine

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/pgrunbook/pgrunbook/internal/activity"
	"github.com/pgrunbook/pgrunbook/internal/playbook"
	"github.com/pgrunbook/pgrunbook/internal/transcript"
)

// actionStepFor finds the action step that acts on a confirm step's set,
// whose limit and kind the confirmation must respect.
func (r *runner) actionStepFor(confirm *playbook.Step) *playbook.Step {
	for _, st := range r.pb.Steps[confirm.Index+1:] {
		if st.Action != nil && st.Action.Targets.Step == confirm.ID {
			return st
		}
	}
	return nil
}

// limitOf is the blast-radius limit of an action step.
func (r *runner) limitOf(st *playbook.Step) int {
	if r.opts.MaxTargets > 0 {
		return r.opts.MaxTargets
	}
	if st != nil && st.Action != nil {
		return st.Action.MaxTargets
	}
	return playbook.DefaultMaxTargets
}

// confirm asks for approval of a set; the approved sessions become the
// step's set.
func (r *runner) confirm(ctx context.Context, st *playbook.Step) error {
	a := approval{step: st, ref: st.Confirm.Targets, action: st.Confirm.Action, question: st.Confirm.Question}
	actStep := r.actionStepFor(st)
	a.limit = r.limitOf(actStep)
	if actStep != nil {
		a.backendTypes = actStep.Action.BackendTypes
		if a.action == "" {
			a.action = actStep.Kind
		}
	}
	approved, err := r.approve(ctx, a)
	if err != nil {
		return err
	}
	r.scope.Put(st.ID, approved)
	return nil
}

// approval is what a confirmation is about.
type approval struct {
	step         *playbook.Step
	ref          playbook.SetRef // the set, re-read on refresh
	action       string          // playbook.KindCancel or KindTerminate
	question     string
	limit        int
	backendTypes []string
	// rows, when not nil, are the sessions to confirm instead of ref's
	// (a resumed run offering a terminate again); a refresh re-reads
	// them by identity.
	rows []activity.Session
}

// approve shows the eligible sessions of a set, applies the blast-radius
// limit and gets an answer from the run's answerer: the operator, or
// "all" in --yes and --dry-run (modes.go). The operator may refresh the table; an answer given after
// StaleAfter refreshes it too and, if the chosen sessions changed, shows
// what changed and asks again. It returns the approved sessions (empty
// when skipped).
func (r *runner) approve(ctx context.Context, a approval) ([]activity.Session, error) {
	st := a.step
	rows := r.scope.Sessions(a.ref)
	if a.rows != nil {
		rows = a.rows
	}
	if r.refreshNext {
		// The first confirmation of a resumed run: on a fresh table.
		r.refreshNext = false
		var err error
		if rows, err = r.refreshFor(ctx, a); err != nil {
			return nil, err
		}
	}
	for {
		targets, excluded, err := r.eligible(rows, a.backendTypes)
		if err != nil {
			return nil, err
		}
		sel := r.stepEvent(st, transcript.Selected)
		sel.Set, sel.Rows, sel.Excluded = st.ID, targets, excluded
		// The action lets the screen label the candidates by their risk.
		switch a.action {
		case playbook.KindCancel:
			sel.Function = activity.Cancel
		case playbook.KindTerminate:
			sel.Function = activity.Terminate
		}
		if r.latest != nil && len(targets) > 0 {
			// Say which server the answer acts on: a command meant for a
			// replica run on the primary is how outages begin.
			srv := r.latest.Server
			if srv.Host == "" {
				// Where pgrunbook connected, as the start of the run says.
				srv.Host, srv.Port = r.opts.Server.Host, r.opts.Server.Port
			}
			sel.ServerFacts = &srv
		}
		if err := r.emit(sel); err != nil {
			return nil, err
		}
		if len(targets) == 0 {
			return targets, nil
		}
		if err := r.advise(st, a.action, targets); err != nil {
			return nil, err
		}
		question := a.question
		if question == "" {
			question = defaultQuestion(a.action, len(targets))
		}
		over := len(targets) > a.limit
		if over {
			msg := fmt.Sprintf("%d sessions match, more than this step's limit of %d (max_targets): ", len(targets), a.limit)
			text, ask, err := r.answers.overLimit(msg, a.limit)
			if err != nil {
				return nil, err
			}
			w := r.stepEvent(st, transcript.Warning)
			w.Text = text
			if !ask {
				return []activity.Session{}, r.emit(w)
			}
			if err := r.emit(w); err != nil {
				return nil, err
			}
		}
		prompt := r.stepEvent(st, transcript.Prompt)
		prompt.Question = question
		prompt.Options = r.answers.options(over)
		asked := r.clock.Now()
		ans, err := r.answers.answer(ctx, Question{Text: question, Action: signalOf(a.action), Rows: targets, Limit: a.limit, Taken: r.taken, Server: sel.ServerFacts})
		if err != nil {
			return nil, err
		}
		prompt.By = r.answers.by()
		if ans.Choice == ChooseRefresh {
			prompt.Answer = string(ChooseRefresh)
			if err := r.emit(prompt); err != nil {
				return nil, err
			}
			if rows, err = r.refreshFor(ctx, a); err != nil {
				return nil, err
			}
			continue
		}
		if took := r.clock.Now().Sub(asked); (ans.Choice == ChooseAll || ans.Choice == ChooseSubset) && took > r.opts.StaleAfter {
			chosen, err := choose(ans, targets, a.limit, over)
			if err != nil {
				return nil, err
			}
			fresh, err := r.refreshFor(ctx, a)
			if err != nil {
				return nil, err
			}
			if changes := identityChanges(chosen, fresh, a.action); len(changes) > 0 {
				prompt.Answer, prompt.Chosen = string(ans.Choice), activity.PIDs(chosen)
				prompt.Text = staleText
				if err := r.emit(prompt); err != nil {
					return nil, err
				}
				w := r.stepEvent(st, transcript.Warning)
				w.Text = fmt.Sprintf("the answer came %s after the table was shown, and since then: %s. Look at the fresh table and answer again.",
					r.clock.Now().Sub(asked).Round(time.Second), strings.Join(changes, "; "))
				if err := r.emit(w); err != nil {
					return nil, err
				}
				rows = fresh
				continue
			}
			targets = freshRows(targets, fresh)
		}
		approved, err := choose(ans, targets, a.limit, over)
		if err != nil {
			return nil, err
		}
		prompt.Answer, prompt.Chosen, prompt.Typed = string(ans.Choice), activity.PIDs(approved), ans.TypedCount
		if err := r.emit(prompt); err != nil {
			return nil, err
		}
		if ans.Choice == ChooseAbort {
			return nil, &stopError{Result{Outcome: OutcomeAborted, ExitCode: ExitAborted, Message: "aborted by the operator at step " + fmt.Sprint(st.Index+1)}}
		}
		return approved, nil
	}
}

// choose applies an answer to the targets.
func choose(ans Answer, targets []activity.Session, limit int, over bool) ([]activity.Session, error) {
	approved := []activity.Session{}
	switch ans.Choice {
	case ChooseAll:
		if over {
			return nil, fmt.Errorf("the prompter chose all of %d sessions above the limit of %d", len(targets), limit)
		}
		approved = append(approved, targets...)
	case ChooseSubset:
		for _, s := range targets {
			if slices.Contains(ans.PIDs, s.PID) {
				approved = append(approved, s)
			}
		}
		if len(approved) > limit {
			return nil, fmt.Errorf("%d sessions chosen, more than the limit of %d", len(approved), limit)
		}
	case ChooseSkip, ChooseAbort:
	default:
		return nil, fmt.Errorf("unknown answer %q", ans.Choice)
	}
	return approved, nil
}

// identityChanges lists, in words, how the chosen sessions differ in a
// fresh read: ended, replaced by another backend, or (for a cancel)
// running another statement now.
func identityChanges(chosen, fresh []activity.Session, action string) []string {
	var out []string
	for _, c := range chosen {
		i := slices.IndexFunc(fresh, func(f activity.Session) bool { return f.PID == c.PID })
		switch {
		case i < 0:
			out = append(out, fmt.Sprintf("pid %d no longer matches or has ended", c.PID))
		case !fresh[i].BackendStart.Equal(c.BackendStart):
			out = append(out, fmt.Sprintf("pid %d is another session now", c.PID))
		case action == playbook.KindCancel && !fresh[i].QueryStart.Equal(c.QueryStart):
			out = append(out, fmt.Sprintf("pid %d runs another statement now", c.PID))
		}
	}
	return out
}

// freshRows replaces each target by its row in fresh (same pid).
func freshRows(targets, fresh []activity.Session) []activity.Session {
	out := make([]activity.Session, len(targets))
	for i, t := range targets {
		out[i] = t
		if j := slices.IndexFunc(fresh, func(f activity.Session) bool { return f.PID == t.PID }); j >= 0 {
			out[i] = fresh[j]
		}
	}
	return out
}

// refresh takes a fresh snapshot (one round trip) and recomputes the set
// ref names: a snapshot's set is the fresh rows, a filter's set is its
// filter re-run over its refreshed source, and any other set keeps the
// sessions that still exist, with their fresh rows. Refreshed sets replace
// the old ones in the scope, so later steps see the same fresh view.
func (r *runner) refresh(ctx context.Context, st *playbook.Step, ref playbook.SetRef) ([]activity.Session, error) {
	snap, err := r.snapshot(ctx)
	if err != nil {
		return nil, err
	}
	ev := r.stepEvent(st, transcript.Snapshot)
	ev.Taken, ev.Rows, ev.Text = &snap.Taken, snap.Rows, "refreshed"
	if err := r.emit(ev); err != nil {
		return nil, err
	}
	return r.recompute(ref, snap, 0)
}

func (r *runner) recompute(ref playbook.SetRef, snap *activity.Snapshot, depth int) ([]activity.Session, error) {
	src := r.stepByID(ref.Step)
	if src == nil || depth > len(r.pb.Steps) {
		return nil, fmt.Errorf("cannot refresh set %s", ref)
	}
	switch {
	case src.Kind == playbook.KindActivity:
		return r.refreshActivity(src, snap)
	case src.Kind == playbook.KindFilter:
		from, err := r.recompute(src.Filter.From, snap, depth+1)
		if err != nil {
			return nil, err
		}
		rows, err := selectRows(r.scope, src.Filter, from)
		if err != nil {
			return nil, err
		}
		r.scope.Put(src.ID, rows)
		return rows, nil
	}
	var out []activity.Session
	for _, s := range r.scope.Sessions(ref) {
		if now := snap.Find(s.Identity()); now != nil {
			out = append(out, *now)
		}
	}
	return out, nil
}

func defaultQuestion(action string, n int) string {
	these := fmt.Sprintf("these %d sessions", n)
	if n == 1 {
		these = "this session"
	}
	switch action {
	case playbook.KindCancel:
		return fmt.Sprintf("Cancel the running statement of %s? (the session stays connected)", these)
	case playbook.KindTerminate:
		return fmt.Sprintf("Terminate %s? (disconnected, open transaction rolled back)", these)
	}
	return fmt.Sprintf("Approve %s?", these)
}

// advise warns, before a cancel, about targets a cancel cannot help,
// and before a terminate of a pooled backend, whom it hits.
func (r *runner) advise(st *playbook.Step, action string, targets []activity.Session) error {
	if err := r.advisePooled(st, action, targets); err != nil { // pooled.go
		return err
	}
	if action != playbook.KindCancel {
		return nil
	}
	var idle, clientWrite []int
	for _, s := range targets {
		switch {
		case s.State == "idle in transaction" || s.State == "idle in transaction (aborted)":
			idle = append(idle, s.PID)
		case s.WaitEvent == "ClientWrite":
			clientWrite = append(clientWrite, s.PID)
		}
	}
	if len(idle) > 0 {
		w := r.stepEvent(st, transcript.Warning)
		w.Text = fmt.Sprintf("cancel does nothing to a session idle in a transaction (pids %v): it runs no statement. Its locks stay until it is terminated (see terminate-idle-in-transaction).", idle)
		if err := r.emit(w); err != nil {
			return err
		}
	}
	if len(clientWrite) > 0 {
		w := r.stepEvent(st, transcript.Warning)
		w.Text = fmt.Sprintf("pids %v are blocked sending results to a client that stopped reading (wait event ClientWrite): a cancel is not acted on until the client reads; expect the verify to fail and terminate to be needed.", clientWrite)
		return r.emit(w)
	}
	return nil
}
