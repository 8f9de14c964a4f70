package engine

import (
	"context"
	"fmt"
	"slices"

	"github.com/pgrunbook/pgrunbook/internal/activity"
	"github.com/pgrunbook/pgrunbook/internal/playbook"
	"github.com/pgrunbook/pgrunbook/internal/transcript"
)

// eligible splits rows into the sessions that may be targeted and the
// ones that are shown but never touched, each with its reason. The rules
// are the product's safety rules: never our own backend, never a session
// whose identity is hidden, only client backends unless the step opts in
// to other backend types by name, never a protected session.
func (r *runner) eligible(rows []activity.Session, backendTypes []string) ([]activity.Session, []transcript.Excluded, error) {
	targets := []activity.Session{}
	var excluded []transcript.Excluded
	seen := map[int]bool{}
	ev := r.scope.RowEvaluator()
	for i := range rows {
		s := &rows[i]
		if seen[s.PID] {
			continue
		}
		seen[s.PID] = true
		reason := ""
		switch {
		case s.IsSelf:
			reason = "pgrunbook's own session"
		case s.Hidden():
			reason = "identity hidden from this role (needs pg_read_all_stats): it cannot be checked, so it is never signalled"
		case s.BackendType == "parallel worker":
			reason = fmt.Sprintf("parallel worker of pid %d: only its leader is ever signalled", s.LeaderPID)
		case s.BackendType != activity.ClientBackend && !slices.Contains(backendTypes, s.BackendType):
			reason = fmt.Sprintf("a %s, not a client backend (a step must list it in backend_types to touch it)", s.BackendType)
		}
		if reason == "" {
			for _, rule := range r.protect {
				hit, err := ev.Bool(rule, s)
				if err != nil {
					return nil, nil, fmt.Errorf("protect rule: %w", err)
				}
				if hit {
					reason = "protected by: " + rule.Source
					break
				}
			}
		}
		if reason != "" {
			excluded = append(excluded, transcript.Excluded{Session: *s, Reason: reason})
			continue
		}
		targets = append(targets, *s)
	}
	return targets, excluded, nil
}

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
	action := st.Confirm.Action
	actStep := r.actionStepFor(st)
	var backendTypes []string
	if actStep != nil {
		backendTypes = actStep.Action.BackendTypes
		if action == "" {
			action = actStep.Kind
		}
	}
	approved, err := r.approve(ctx, st, r.scope.Sessions(st.Confirm.Targets), action, st.Confirm.Question, r.limitOf(actStep), backendTypes)
	if err != nil {
		return err
	}
	r.scope.Put(st.ID, approved)
	return nil
}

// approve shows the eligible sessions of a set, applies the blast-radius
// limit and gets an answer: from the operator, or "all" in --yes and
// --dry-run. It returns the approved sessions (empty when skipped).
func (r *runner) approve(ctx context.Context, st *playbook.Step, rows []activity.Session, action, question string, limit int, backendTypes []string) ([]activity.Session, error) {
	targets, excluded, err := r.eligible(rows, backendTypes)
	if err != nil {
		return nil, err
	}
	sel := r.stepEvent(st, transcript.Selected)
	sel.Set, sel.Rows, sel.Excluded = st.ID, targets, excluded
	if err := r.emit(sel); err != nil {
		return nil, err
	}
	if len(targets) == 0 {
		return targets, nil
	}
	if err := r.advise(st, action, targets); err != nil {
		return nil, err
	}
	if question == "" {
		question = defaultQuestion(action, len(targets))
	}
	over := len(targets) > limit
	if over {
		msg := fmt.Sprintf("%d sessions match, more than this step's limit of %d (max_targets): ", len(targets), limit)
		switch r.opts.Mode {
		case Yes:
			return nil, &stopError{Result{Outcome: OutcomeRefused, ExitCode: ExitFailed,
				Message: msg + "refusing to act on them unattended; nothing was signalled. Narrow the filter, raise max_targets, or run interactively to pick a subset."}}
		case DryRun:
			w := r.stepEvent(st, transcript.Warning)
			w.Text = msg + "a real run with --yes would stop here without signalling; interactively you would have to pick a subset."
			return []activity.Session{}, r.emit(w)
		default:
			w := r.stepEvent(st, transcript.Warning)
			w.Text = msg + fmt.Sprintf("choose at most %d, or skip this step.", limit)
			if err := r.emit(w); err != nil {
				return nil, err
			}
		}
	}
	options := []string{string(ChooseAll), string(ChooseSubset), string(ChooseSkip), string(ChooseAbort)}
	if over {
		options = options[1:]
	}
	prompt := r.stepEvent(st, transcript.Prompt)
	prompt.Question, prompt.Options = question, options
	var ans Answer
	switch r.opts.Mode {
	case DryRun:
		ans, prompt.By = Answer{Choice: ChooseAll}, transcript.ByDryRun
	case Yes:
		ans, prompt.By = Answer{Choice: ChooseAll}, transcript.ByYes
	default:
		if r.opts.Prompter == nil {
			return nil, fmt.Errorf("no prompter for an interactive run")
		}
		ans, err = r.opts.Prompter.Choose(ctx, Question{Text: question, Action: action, Rows: targets, Limit: limit})
		if err != nil {
			return nil, err
		}
		prompt.By = transcript.ByOperator
	}
	prompt.Answer = string(ans.Choice)
	var approved []activity.Session
	switch ans.Choice {
	case ChooseAll:
		if over {
			return nil, fmt.Errorf("the prompter chose all of %d sessions above the limit of %d", len(targets), limit)
		}
		approved = targets
	case ChooseSubset:
		for _, s := range targets {
			if slices.Contains(ans.PIDs, s.PID) {
				approved = append(approved, s)
			}
		}
		if len(approved) > limit {
			return nil, fmt.Errorf("%d sessions chosen, more than the limit of %d", len(approved), limit)
		}
	case ChooseSkip:
		approved = []activity.Session{}
	case ChooseAbort:
		approved = []activity.Session{}
	default:
		return nil, fmt.Errorf("unknown answer %q", ans.Choice)
	}
	for _, s := range approved {
		prompt.Chosen = append(prompt.Chosen, s.PID)
	}
	if err := r.emit(prompt); err != nil {
		return nil, err
	}
	if ans.Choice == ChooseAbort {
		return nil, &stopError{Result{Outcome: OutcomeAborted, ExitCode: ExitAborted, Message: "aborted by the operator at step " + fmt.Sprint(st.Index+1)}}
	}
	if approved == nil {
		approved = []activity.Session{}
	}
	return approved, nil
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

// advise warns, before a cancel, about targets a cancel cannot help.
func (r *runner) advise(st *playbook.Step, action string, targets []activity.Session) error {
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
