package engine

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/pgrunbook/pgrunbook/internal/activity"
	"github.com/pgrunbook/pgrunbook/internal/playbook"
	"github.com/pgrunbook/pgrunbook/internal/transcript"
)

// Exit codes, as documented for the pgrunbook command.
const (
	ExitOK          = 0
	ExitFailed      = 1
	ExitUsage       = 2
	ExitAborted     = 3
	ExitInterrupted = 130
)

// Outcome is how a run ended; it is the type run_finished records.
type Outcome = transcript.RunOutcome

// Run outcomes, as recorded in run_finished.
const (
	OutcomeDone        = transcript.RunDone
	OutcomeFailed      = transcript.RunFailed
	OutcomeRefused     = transcript.RunRefused
	OutcomeAborted     = transcript.RunAborted
	OutcomeInterrupted = transcript.RunInterrupted
	OutcomeError       = transcript.RunError
)

// Result is how a run ended.
type Result struct {
	Outcome  Outcome
	ExitCode int
	// Message explains a run that did not end done.
	Message string
}

// runner is the state of one run.
type runner struct {
	opts Options
	// db is what the run reads and signals through: Options.DB, or its
	// dry-run wrapper (modes.go). unchanging is true for the wrapper:
	// nothing the run does changes what it reads.
	db         Database
	unchanging bool
	// reconnecter restores Options.DB's lost connection; nil when it
	// cannot.
	reconnecter Reconnecter
	// answers answers confirmations as the mode says (modes.go).
	answers answerer
	clock   Clock
	pb      *playbook.Playbook
	scope   *playbook.Scope
	protect []*playbook.Expr
	// defaults are the default protections in force.
	defaults []playbook.DefaultProtection
	// lastVerify holds, per session, whether the latest verify that
	// checked it passed: a session that fails a verify and is not passed
	// by a later one makes the run fail.
	lastVerify map[activity.SessionKey]bool
	// problems counts outcomes that make the run fail: denied and error
	// signals.
	problems []string
	// latest is the most recent snapshot, taken at taken.
	latest *activity.Snapshot
	taken  time.Time
	// from is the index of the first step steps runs: 0, or where a
	// resumed run goes on (resume.go).
	from int
	// refreshNext makes the next confirmation read its table afresh
	// before it is shown: the first one of a resumed run (resume.go).
	refreshNext bool
}

// stopError ends a run early with an outcome.
type stopError struct{ result Result }

func (e *stopError) Error() string { return e.result.Message }

// Run executes the playbook. The returned error is non-nil only when the
// transcript could not be written; every other ending, including database
// errors, is a Result with its exit code, recorded as run_finished.
func Run(ctx context.Context, opts Options) (Result, error) {
	if opts.Transcript == nil {
		return Result{}, errors.New("engine: a transcript is required")
	}
	if opts.PollInterval <= 0 {
		opts.PollInterval = DefaultPollInterval
	}
	if opts.MaxPollInterval <= 0 {
		opts.MaxPollInterval = DefaultMaxPollInterval
	}
	if opts.StaleAfter <= 0 {
		opts.StaleAfter = DefaultStaleAfter
	}
	if opts.ReconnectFor <= 0 {
		opts.ReconnectFor = DefaultReconnectFor
	}
	if opts.Clock == nil {
		opts.Clock = RealClock{}
	}
	r := &runner{
		opts:       opts,
		clock:      opts.Clock,
		pb:         opts.Playbook,
		scope:      opts.Playbook.NewScope(opts.Params),
		protect:    append(append([]*playbook.Expr{}, opts.Playbook.Protect...), opts.Protect...),
		defaults:   opts.Playbook.Defaults(),
		lastVerify: map[activity.SessionKey]bool{},
	}
	r.applyMode() // modes.go
	if opts.Resume != nil {
		return r.resume(ctx) // resume.go
	}
	if err := r.emit(r.startEvent()); err != nil {
		return Result{}, err
	}
	if g := r.pb.Guidance; g != "" {
		if err := r.emit(transcript.Event{Type: transcript.Note, Title: "About this playbook", Text: g}); err != nil {
			return Result{}, err
		}
	}
	var res Result
	if err := r.pb.CheckServer(r.opts.Server.VersionNum); err != nil {
		res = Result{Outcome: OutcomeRefused, ExitCode: ExitUsage, Message: err.Error() + "; nothing was run"}
	} else {
		res = r.steps(ctx)
	}
	code := res.ExitCode
	// The closing event is written even after Ctrl-C: the transcript does
	// not depend on the run's context.
	if err := r.emit(transcript.Event{Type: transcript.RunFinished, Outcome: string(res.Outcome), ExitCode: &code, Message: res.Message}); err != nil {
		return res, err
	}
	return res, nil
}

func (r *runner) startEvent() transcript.Event {
	params := map[string]any{}
	for _, p := range r.pb.Params {
		if v, ok := r.opts.Params[p.Name]; ok {
			params[p.Name] = jsonValue(v)
		}
	}
	server := r.opts.Server
	return transcript.Event{
		Type: transcript.RunStarted, Playbook: r.pb.Name, Path: r.pb.Path, SHA256: r.pb.SHA256,
		Summary: r.pb.Summary, Params: params, Mode: r.opts.Mode, Server: &server,
		Version: r.opts.Version, Steps: len(r.pb.Steps),
		Operator: r.opts.Operator, Provenance: r.opts.Provenance,
	}
}

// jsonValue renders durations as text ("5m0s") so transcripts read well.
func jsonValue(v any) any {
	if d, ok := v.(time.Duration); ok {
		return d.String()
	}
	return v
}

// emit records an event in the transcript, then shows it.
func (r *runner) emit(ev transcript.Event) error {
	return r.emitAll([]transcript.Event{ev})
}

// emitAll records events with one write and one sync, then shows them,
// as one batch when the display takes batches.
func (r *runner) emitAll(evs []transcript.Event) error {
	for i := range evs {
		// Whoever answered, the prompt says which operator ran the run.
		if evs[i].Type == transcript.Prompt && evs[i].Operator == nil {
			evs[i].Operator = r.opts.Operator
		}
	}
	evs, err := r.opts.Transcript.WriteBatch(evs)
	if err != nil {
		return err
	}
	switch {
	case r.opts.ShowBatch != nil:
		r.opts.ShowBatch(evs)
	case r.opts.Show != nil:
		for _, ev := range evs {
			r.opts.Show(ev)
		}
	}
	return nil
}

// steps runs every step and decides the outcome.
func (r *runner) steps(ctx context.Context) Result {
	for _, st := range r.pb.Steps[r.from:] {
		if err := r.step(ctx, st); err != nil {
			return r.endWith(ctx, err)
		}
	}
	var survivors int
	for _, passed := range r.lastVerify {
		if !passed {
			survivors++
		}
	}
	switch {
	case survivors > 0 && len(r.problems) > 0:
		return Result{Outcome: OutcomeFailed, ExitCode: ExitFailed,
			Message: fmt.Sprintf("%d session(s) failed their last verify; %s", survivors, joinProblems(r.problems))}
	case survivors > 0:
		return Result{Outcome: OutcomeFailed, ExitCode: ExitFailed,
			Message: fmt.Sprintf("%d session(s) failed their last verify", survivors)}
	case len(r.problems) > 0:
		return Result{Outcome: OutcomeFailed, ExitCode: ExitFailed, Message: joinProblems(r.problems)}
	}
	return Result{Outcome: OutcomeDone, ExitCode: ExitOK, Message: r.answers.done()}
}

func joinProblems(p []string) string {
	if len(p) == 1 {
		return p[0]
	}
	return fmt.Sprintf("%s (and %d more)", p[0], len(p)-1)
}

// ErrTerminated is the cause (context.Cause) with which the command line
// cancels a run's context when the process receives SIGTERM. The run ends
// interrupted, as after Ctrl-C, and its message says it was terminated.
var ErrTerminated = errors.New("terminated (SIGTERM)")

// ErrHangup is the cause with which the command line cancels a run's
// context when the process receives SIGHUP: the operator's terminal went
// away (an SSH connection dropped). A prompt that finds its terminal gone
// returns it too. The run ends interrupted rather than go on unattended.
var ErrHangup = fmt.Errorf("%w: the operator's terminal hung up (SIGHUP)", ErrInterrupted)

// hangupMessage is run_finished's message after SIGHUP.
const hangupMessage = "the operator's terminal hung up (SIGHUP): the run stopped rather than go on unattended"

// endWith turns the error that stopped the run into its result.
func (r *runner) endWith(ctx context.Context, err error) Result {
	var stop *stopError
	switch {
	case errors.As(err, &stop):
		return stop.result
	case errors.Is(err, ErrInterrupted) || ctx.Err() != nil:
		return Result{Outcome: OutcomeInterrupted, ExitCode: ExitInterrupted, Message: interruption(ctx, err)}
	}
	return Result{Outcome: OutcomeError, ExitCode: ExitFailed, Message: err.Error()}
}

// interruption says what interrupted the run, from the error that stopped
// it and the cause its context was cancelled with.
func interruption(ctx context.Context, err error) string {
	cause := context.Cause(ctx)
	switch {
	case errors.Is(err, ErrHangup) || errors.Is(cause, ErrHangup):
		return hangupMessage
	case errors.Is(cause, ErrTerminated):
		return "terminated (SIGTERM)"
	case errors.Is(cause, context.DeadlineExceeded):
		return "interrupted: the run's deadline passed"
	}
	return "interrupted by the operator (Ctrl-C)"
}

func (r *runner) stepEvent(st *playbook.Step, typ string) transcript.Event {
	return transcript.Event{Type: typ, Step: st.ID, StepIndex: st.Index + 1, Kind: st.Kind, Title: st.DisplayTitle()}
}

// step runs one step, or records why it is skipped.
func (r *runner) step(ctx context.Context, st *playbook.Step) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if st.If != nil {
		ok, err := r.scope.Condition(st.If)
		if err != nil {
			return fmt.Errorf("step %d: %w", st.Index+1, err)
		}
		if !ok {
			ev := r.stepEvent(st, transcript.StepSkipped)
			ev.Text = "condition is false: " + st.If.Source
			return r.emit(ev)
		}
	}
	ev := r.stepEvent(st, transcript.StepStarted)
	ev.Text = st.Explain
	if err := r.emit(ev); err != nil {
		return err
	}
	switch st.Kind {
	case playbook.KindActivity:
		return r.activity(ctx, st)
	case playbook.KindFilter:
		return r.filter(st)
	case playbook.KindSummarize:
		return r.summarize(st)
	case playbook.KindHorizon:
		return r.horizon(ctx, st)
	case playbook.KindConfirm:
		return r.confirm(ctx, st)
	case playbook.KindCancel, playbook.KindTerminate:
		return r.action(ctx, st)
	case playbook.KindWait:
		return r.wait(ctx, st)
	case playbook.KindVerify:
		return r.verify(ctx, st)
	case playbook.KindNote:
		ev := r.stepEvent(st, transcript.Note)
		ev.Text = st.Note.Text
		return r.emit(ev)
	}
	return fmt.Errorf("step %d: unknown kind %q", st.Index+1, st.Kind)
}
