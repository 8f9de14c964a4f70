package engine

import (
	"context"
	"fmt"

	"github.com/pgrunbook/pgrunbook/internal/activity"
	"github.com/pgrunbook/pgrunbook/internal/transcript"
)

// What a run's Mode decides is chosen here, once: the database the run
// reads and signals through, and who answers its confirmations. The
// steps themselves do not ask which mode they run in.

// applyMode sets what the run's mode decides: the database it reads and
// signals through, whether that database changes, and its answerer.
func (r *runner) applyMode() {
	r.db, r.answers = r.opts.DB, answererFor(r.opts.Mode, r.opts.Prompter)
	r.reconnecter, _ = r.opts.DB.(Reconnecter)
	if r.opts.Mode == DryRun {
		r.db, r.unchanging = dryRunDB{r.opts.DB}, true
	}
}

// dryRunDB is the Database of a dry run: it reads the live server through
// the run's database, and its Signal sends nothing, answering each target
// with outcome dry_run as if signalled. Since nothing changes what the
// run sees, verify and wait check the latest snapshot once and do not
// wait (runner.unchanging).
type dryRunDB struct{ Database }

// Signal sends nothing: every target comes back dry_run, which the run
// records as the action it would have taken.
func (dryRunDB) Signal(_ context.Context, _ activity.Function, targets []activity.SignalTarget, _ []string) ([]activity.SignalResult, error) {
	results := make([]activity.SignalResult, len(targets))
	for i, t := range targets {
		results[i] = activity.SignalResult{PID: t.PID, Outcome: activity.DryRun}
	}
	return results, nil
}

// answerer answers a run's confirmations: the operator through the
// Prompter, or automatically for --yes and --dry-run.
type answerer interface {
	// by is who answered, as the prompt event records it.
	by() string
	// overLimit is what happens when more sessions match than the step's
	// limit (msg says so): a warning to record and whether to ask anyway
	// (for a subset), or an error that stops the run. When ask is false
	// after a warning, the step approves no session.
	overLimit(msg string, limit int) (warning string, ask bool, err error)
	// options are the answers offered, recorded on the prompt event; nil
	// for an automatic answer.
	options(over bool) []string
	// answer answers q.
	answer(ctx context.Context, q Question) (Answer, error)
	// done is the message of a run that ended done.
	done() string
}

// answererFor is the answerer of a mode.
func answererFor(mode Mode, p Prompter) answerer {
	switch mode {
	case DryRun:
		return dryRunAnswers{}
	case Yes:
		return yesAnswers{}
	}
	return operatorAnswers{p}
}

// operatorAnswers asks the operator at every confirmation.
type operatorAnswers struct{ p Prompter }

func (operatorAnswers) by() string { return transcript.ByOperator }

func (operatorAnswers) overLimit(msg string, limit int) (string, bool, error) {
	return msg + fmt.Sprintf("choose at most %d, or skip this step.", limit), true, nil
}

func (operatorAnswers) options(over bool) []string {
	opts := []string{string(ChooseAll), string(ChooseSubset), string(ChooseRefresh), string(ChooseSkip), string(ChooseAbort)}
	if over {
		return opts[1:]
	}
	return opts
}

func (o operatorAnswers) answer(ctx context.Context, q Question) (Answer, error) {
	if o.p == nil {
		return Answer{}, fmt.Errorf("no prompter for an interactive run")
	}
	return o.p.Choose(ctx, q)
}

func (operatorAnswers) done() string { return "" }

// yesAnswers answers "all" for --yes, and refuses a set over the limit:
// nobody is there to pick a subset.
type yesAnswers struct{}

func (yesAnswers) by() string { return transcript.ByYes }

func (yesAnswers) overLimit(msg string, _ int) (string, bool, error) {
	return "", false, &stopError{Result{Outcome: OutcomeRefused, ExitCode: ExitFailed,
		Message: msg + "refusing to act on them unattended; nothing was signalled. Narrow the filter, raise max_targets, or run interactively to pick a subset."}}
}

func (yesAnswers) options(bool) []string { return nil }

func (yesAnswers) answer(context.Context, Question) (Answer, error) {
	return Answer{Choice: ChooseAll}, nil
}

func (yesAnswers) done() string { return "" }

// dryRunAnswers answers "all" for --dry-run, and over the limit says what
// a real run would do and approves nothing.
type dryRunAnswers struct{}

func (dryRunAnswers) by() string { return transcript.ByDryRun }

func (dryRunAnswers) overLimit(msg string, _ int) (string, bool, error) {
	return msg + "a real run with --yes would stop here without signalling; interactively you would have to pick a subset.", false, nil
}

func (dryRunAnswers) options(bool) []string { return nil }

func (dryRunAnswers) answer(context.Context, Question) (Answer, error) {
	return Answer{Choice: ChooseAll}, nil
}

func (dryRunAnswers) done() string { return "dry run: nothing was signalled" }
