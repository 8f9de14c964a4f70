package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/pflag"

	"github.com/pgrunbook/pgrunbook/engine"
	"github.com/pgrunbook/pgrunbook/internal/activity"
	"github.com/pgrunbook/pgrunbook/internal/hoststat"
	"github.com/pgrunbook/pgrunbook/internal/pg"
	"github.com/pgrunbook/pgrunbook/internal/prompt"
	"github.com/pgrunbook/pgrunbook/internal/render"
	"github.com/pgrunbook/pgrunbook/internal/transcript"
	"github.com/pgrunbook/pgrunbook/internal/watch"
)

func watchCmd() *command {
	c := &command{
		name: "watch", summary: "run a playbook every interval on one connection (dry run unless --yes)",
		usage: "PLAYBOOK [FLAGS]",
		about: `Runs a playbook again and again, one round every interval, in one process
on one connection (restored as run restores it). It is a dry run unless
told otherwise. Each round has its own transcript, round-000001.jsonl and
so on, in one directory; pgrunbook replay shows any of them. The screen
shows only what changed since the previous round: new targets, targets
gone, signals sent, new warnings, a round that ended differently.

Two uses: a rehearsal under load (a dry run every second beside the real
traffic, far cheaper than a dry run started again and again), and an
unattended guard (--yes) that, for example, ends sessions idle in a
transaction for more than 10 minutes. A guard has a circuit breaker: when
the next statement would signal more than --max-signals sessions within
--per, it is not sent, and the watch stops with exit 1.
`,
		flagsWhere: "before or after PLAYBOOK",
		notes: `SIGINT (Ctrl-C) or SIGTERM stops the watch between rounds or inside one;
a round interrupted is recorded as interrupted.
Exit codes: 0 the rounds asked for all ended done; 1 the circuit breaker
stopped the watch, or a round did not end done; 2 bad usage, an invalid
playbook or a server the playbook refuses; 3 aborted by the operator;
130 stopped by SIGINT or SIGTERM.`,
		args: argPlaybook,
	}
	c.setup = func(fs *pflag.FlagSet) runFunc {
		var f watchFlags
		fs.DurationVar(&f.every, "every", DefaultWatchEvery, "`DURATION` time from the start of one round to the start of the next; 0 runs rounds back to back")
		fs.IntVar(&f.rounds, "rounds", 0, "`N` stop after N rounds (default: until stopped)")
		fs.BoolVar(&f.dryRun, "dry-run", false, "signal nothing (the default)")
		yesFlag(fs, &f.yes, `answer every confirmation with "all" and signal; blast-radius limits and the circuit breaker apply`)
		fs.BoolVar(&f.interactive, "interactive", false, "ask at every confirmation, as run does (a terminal)")
		fs.IntVar(&f.maxSignals, "max-signals", DefaultWatchMaxSignals, "`N` circuit breaker: at most N sessions signalled within --per")
		fs.DurationVar(&f.per, "per", DefaultWatchPer, "`DURATION` the circuit breaker's sliding window")
		fs.StringVar(&f.dir, "transcript-dir", "", "`DIR` where the rounds' transcripts go, a new directory (default: a new directory in the place run writes its transcripts)")
		fs.IntVar(&f.keepQuiet, "keep-quiet", DefaultWatchKeepQuiet, "`N` keep the transcripts of only the last N quiet rounds (nothing targeted, nothing warned, ended done); -1 keeps them all. Rounds that found or did something are always kept.")
		dsnFlag(fs, &f.dsn, "connection string or URI, as for run")
		setFlag(fs, &f.sets, "set a playbook parameter (repeatable)")
		protectFlag(fs, &f.protect, "never target sessions for which EXPR is true (repeatable)")
		maxTargetsFlag(fs, &f.maxTargets, "blast-radius limit for every cancel/terminate step")
		fs.BoolVar(&f.redact, "redact-queries", false, `write "<redacted>" instead of query text in transcripts`)
		statementTimeoutFlag(fs, &f.statementTimeout, "bound on each of pgrunbook's own statements")
		staleAfterFlag(fs, &f.staleAfter, "with --interactive: as for run")
		reconnectForFlag(fs, &f.reconnectFor, "as for run, within a round")
		poolerFlag(fs, &f.pooler, "a PgBouncer admin console, as for run")
		operatorFlag(fs, &f.operator, "who runs the watch, recorded in every round and in the server log line of each signal")
		fs.IntVar(&f.nice, "nice", -1, "`N` CPU priority of the watch, as nice(1), 0 to 19; a dry run at 19 is also in Linux's idle scheduling class (default: 19 for a dry run, which only observes and must not take CPU from the workload it watches; for --yes and --interactive, which must act under load, the priority it started with)")
		return func(ctx context.Context, pos []string, stdio IO) error {
			return f.watch(ctx, c, pos, stdio)
		}
	}
	return c
}

// Defaults of watch's flags.
const (
	DefaultWatchMaxSignals = 10
	DefaultWatchPer        = time.Hour
	DefaultWatchKeepQuiet  = 100
)

// DefaultWatchEvery is the default interval between rounds.
const DefaultWatchEvery = 5 * time.Second

type watchFlags struct {
	runFlags
	interactive bool
	every       time.Duration
	rounds      int
	maxSignals  int
	per         time.Duration
	dir         string
	keepQuiet   int
	nice        int
}

// niceFor is the nice value a watch runs at: --nice, else 19 for a dry
// run (an observer) and 0 (unchanged) for a watch that signals.
func niceFor(f watchFlags, mode engine.Mode) int {
	if f.nice >= 0 {
		return f.nice
	}
	if mode == engine.DryRun {
		return 19
	}
	return 0
}

func (f *watchFlags) watch(ctx context.Context, c *command, pos []string, stdio IO) error {
	if len(pos) != 1 {
		return usageErrorf("watch takes one playbook, got %d arguments\n\n%s", len(pos), c.help())
	}
	switch {
	case f.maxTargets < 0:
		return usageErrorf("--max-targets must be at least 1")
	case f.staleAfter <= 0 || f.statementTimeout <= 0 || f.reconnectFor <= 0:
		return usageErrorf("--stale-after, --statement-timeout and --reconnect-for must be positive durations")
	case f.every < 0 || f.rounds < 0:
		return usageErrorf("--every and --rounds cannot be negative")
	case f.maxSignals < 1 || f.per <= 0:
		return usageErrorf("--max-signals must be at least 1 and --per a positive duration")
	case f.keepQuiet < -1:
		return usageErrorf("--keep-quiet is a count, or -1 to keep every round")
	case f.nice > 19 || f.nice < -1:
		return usageErrorf("--nice is a nice value from 0 to 19")
	}
	mode, err := watchMode(*f, stdio)
	if err != nil {
		return err
	}
	pb, vals, protect, err := resolveRun(pos[0], f.sets, f.protect)
	if err != nil {
		return err
	}
	dir := f.dir
	if dir == "" {
		file, err := defaultTranscriptPath(pb.Name+"-watch", time.Now())
		if err != nil {
			return failf("%v (give --transcript-dir DIR)", err)
		}
		dir = strings.TrimSuffix(file, ".jsonl")
	}
	// A new directory: rounds are never mixed with another watch's.
	if err := os.MkdirAll(filepath.Dir(dir), 0o700); err != nil {
		return failf("cannot create the transcripts' directory: %v; nothing was done", err)
	}
	if err := os.Mkdir(dir, 0o700); err != nil {
		return failf("cannot create the transcripts' directory: %v; nothing was done", err)
	}

	client, err := pg.Connect(ctx, pg.Options{DSN: f.dsn, StatementTimeout: f.statementTimeout, PoolerDSN: f.pooler, FirstSnapshot: true, WarmUp: mode != engine.DryRun})
	if err != nil {
		os.Remove(dir)
		return connectError(err, "")
	}
	defer client.Close(context.WithoutCancel(ctx))

	info := client.Info()
	operator := currentOperator(f.operator, stdio)
	// An unattended guard leaves its line in the server log too, naming
	// the watch by its transcripts' directory.
	client.SetAudit(pg.Audit{Run: auditRunName(dir), Operator: auditOperator(operator), Playbook: pb.Name})
	w := &watcher{
		out: stdio.Out, width: terminalWidth(stdio.OutFile), dir: dir, flags: *f, mode: mode,
		breaker: &watch.Breaker{Max: f.maxSignals, Per: f.per},
	}
	w.opts = engine.Options{
		Playbook: pb, Params: vals, DB: client, Mode: mode,
		Server:   serverRecord(info),
		Operator: operator, Provenance: playbookProvenance(ctx, pb),
		Host: hoststat.Sampler{}, Protect: protect, MaxTargets: f.maxTargets, StaleAfter: f.staleAfter, ReconnectFor: f.reconnectFor,
		Version: version(), BeforeSignal: w.beforeSignal,
	}
	if mode == engine.Interactive {
		term := &prompt.Terminal{In: stdio.In, Out: stdio.OutFile, Err: stdio.Err, Width: w.width}
		if tty, err := prompt.OpenTTY(); err == nil {
			defer tty.Close()
			term.In = tty
		}
		w.opts.Prompter = &roundPrompter{inner: term, w: w}
	}
	fmt.Fprintf(w.out, "pgrunbook watch: %s every %s, %s, on %s as %s (backend pid %d)\n",
		pb.Name, everyText(f.every), modeText(mode), hostPortText(info), info.User, info.PID)
	if n := niceFor(*f, mode); n > 0 {
		if err := setNice(n, n == 19 && mode == engine.DryRun); err != nil {
			fmt.Fprintf(stdio.Err, "pgrunbook watch: cannot run at nice %d (%v); running at the priority it started with\n", n, err)
		} else {
			fmt.Fprintf(w.out, "priority: nice %d (--nice changes it)\n", n)
		}
	}
	if mode != engine.DryRun {
		fmt.Fprintf(w.out, "circuit breaker: at most %d session(s) signalled within %s\n", f.maxSignals, f.per)
	}
	fmt.Fprintf(w.out, "transcripts: %s (one per round); Ctrl-C or SIGTERM stops the watch\n", dir)
	return w.loop(ctx)
}

// watchMode is the watch's mode: a dry run unless --yes or --interactive.
func watchMode(f watchFlags, stdio IO) (engine.Mode, error) {
	n := 0
	for _, set := range []bool{f.dryRun, f.yes, f.interactive} {
		if set {
			n++
		}
	}
	switch {
	case n > 1:
		return "", usageErrorf("give one of --dry-run, --yes and --interactive")
	case f.yes:
		return engine.Yes, nil
	case f.interactive:
		if !isTerminal(stdio.In) || !isTerminal(stdio.OutFile) {
			return "", usageErrorf("--interactive needs a terminal to ask at; use --yes for an unattended watch")
		}
		return engine.Interactive, nil
	}
	return engine.DryRun, nil
}

// watcher runs the rounds of one watch.
type watcher struct {
	out     io.Writer
	width   int
	dir     string
	flags   watchFlags
	mode    engine.Mode
	opts    engine.Options
	breaker *watch.Breaker
	// tripped is the breaker's refusal in the current round.
	tripped *watch.TrippedError
	// wouldTrip is the round at which a dry run's would-be signals first
	// went over the breaker's limit (0: never).
	wouldTrip int
	// cur is the round running; live, in an interactive round that has
	// reached a prompt, makes its events render as they come; shown holds
	// the events of the round until then.
	cur   *watch.Round
	rd    *render.Renderer
	live  bool
	shown []transcript.Event
	// signalled counts the sessions signalled over the whole watch.
	signalled int
}

// beforeSignal is the engine's hook before each signalling statement:
// the circuit breaker. In a dry run nothing is sent; the breaker counts
// the would-be signals only to say when a --yes watch would have stopped.
func (w *watcher) beforeSignal(_ activity.Function, targets []activity.Identity) error {
	err := w.breaker.Allow(len(targets))
	var tripped *watch.TrippedError
	if !errors.As(err, &tripped) {
		return err
	}
	if w.mode == engine.DryRun {
		if w.wouldTrip == 0 {
			w.wouldTrip = w.cur.Number
			fmt.Fprintf(w.out, "! round %d: a --yes watch would stop here: %v\n", w.cur.Number, tripped)
		}
		return nil
	}
	w.tripped = tripped
	return tripped
}

// show takes an event of the round: into its summary and, in an
// interactive round, onto the screen once the round reaches a prompt.
func (w *watcher) show(ev transcript.Event) {
	w.cur.Add(ev)
	if w.mode != engine.Interactive {
		return
	}
	if w.live {
		w.rd.Event(ev)
		return
	}
	w.shown = append(w.shown, ev)
}

// roundPrompter shows the round's events in full before the first
// question, so the operator answers with the whole table in view.
type roundPrompter struct {
	inner engine.Prompter
	w     *watcher
}

// Choose renders what the round has found so far, then asks.
func (p *roundPrompter) Choose(ctx context.Context, q engine.Question) (engine.Answer, error) {
	w := p.w
	if !w.live {
		for _, ev := range w.shown {
			w.rd.Event(ev)
		}
		w.shown, w.live = nil, true
	}
	return p.inner.Choose(ctx, q)
}

// loop runs rounds until the count, a signal, the breaker or an ending
// that another round cannot change.
func (w *watcher) loop(ctx context.Context) error {
	var prev *watch.Round
	var quiet []string
	notDone := 0
	n := 0
	for w.flags.rounds == 0 || n < w.flags.rounds {
		if ctx.Err() != nil {
			break
		}
		n++
		began := time.Now()
		res, path, err := w.round(ctx, n)
		if err != nil {
			return err
		}
		w.signalled += w.cur.Signalled()
		w.report(prev, began)
		if w.cur.Quiet() && w.flags.keepQuiet >= 0 {
			quiet = append(quiet, path)
			if len(quiet) > w.flags.keepQuiet {
				os.Remove(quiet[0])
				quiet = quiet[1:]
			}
		}
		if res.Outcome != engine.OutcomeDone {
			notDone++
		}
		prev = w.cur
		switch {
		case w.tripped != nil:
			return failf("%v. The watch stopped after round %d; %d session(s) were signalled in all, %d within the last %s. Read the transcripts in %s before starting it again.",
				w.tripped, n, w.signalled, w.breaker.InWindow(), w.flags.per, w.dir)
		case res.Outcome == engine.OutcomeInterrupted:
			return w.stopped(ctx, n, res.ExitCode)
		case res.Outcome == engine.OutcomeAborted:
			fmt.Fprintf(w.out, "watch aborted at round %d: %s\n", n, res.Message)
			return &silentExit{code: res.ExitCode}
		case res.Outcome == engine.OutcomeRefused && res.ExitCode == ExitUsage:
			return usageErrorf("%s (the watch stopped)", res.Message)
		}
		if err := sleepUntil(ctx, began.Add(w.flags.every)); err != nil {
			break
		}
	}
	if ctx.Err() != nil {
		return w.stopped(ctx, n, ExitInterrupted)
	}
	fmt.Fprintf(w.out, "watch done: %d round(s), %d session(s) signalled; transcripts in %s\n", n, w.signalled, w.dir)
	if notDone > 0 {
		fmt.Fprintf(w.out, "%d round(s) did not end done\n", notDone)
		return &silentExit{code: ExitFailed}
	}
	return nil
}

// round runs round n with a transcript of its own.
func (w *watcher) round(ctx context.Context, n int) (engine.Result, string, error) {
	path := filepath.Join(w.dir, fmt.Sprintf("round-%06d.jsonl", n))
	tw, err := transcript.Create(path)
	if err != nil {
		return engine.Result{}, "", failf("round %d: %v; the watch stopped", n, err)
	}
	tw.RedactQueries = w.flags.redact
	w.cur, w.tripped, w.live, w.shown = &watch.Round{Number: n}, nil, false, nil
	w.rd = &render.Renderer{W: w.out, Width: w.width, TranscriptPath: path}
	opts := w.opts
	opts.Transcript, opts.Show = tw, w.show
	res, err := engine.Run(ctx, opts)
	tw.Close()
	if err != nil {
		return res, path, failf("round %d: the transcript could not be written, so the watch stopped: %v", n, err)
	}
	return res, path, nil
}

// stopped ends a watch that SIGINT or SIGTERM stopped.
func (w *watcher) stopped(ctx context.Context, rounds, code int) error {
	fmt.Fprintf(w.out, "watch stopped (%s) after %d round(s), %d session(s) signalled; transcripts in %s\n",
		stopCause(ctx), rounds, w.signalled, w.dir)
	if code == 0 {
		code = ExitInterrupted
	}
	return &silentExit{code: code}
}

func stopCause(ctx context.Context) string {
	if errors.Is(context.Cause(ctx), engine.ErrTerminated) {
		return "SIGTERM"
	}
	return "interrupted"
}

// report writes what changed in the round just run, or nothing.
func (w *watcher) report(prev *watch.Round, began time.Time) {
	cur := w.cur
	ch := watch.Diff(prev, cur)
	if ch.Empty() || w.mode == engine.Interactive && w.live {
		// An interactive round that asked was shown in full.
		return
	}
	out := w.out
	fmt.Fprintf(out, "%s round %d: %d target(s)", began.Format("15:04:05"), cur.Number, len(cur.Targets))
	if len(ch.New) > 0 || len(ch.Gone) > 0 {
		fmt.Fprintf(out, ", %d new, %d gone", len(ch.New), len(ch.Gone))
	}
	fmt.Fprintln(out)
	if len(ch.New) > 0 {
		render.SessionTable(out, ch.New, nil, w.width, "  + ")
	}
	for i := range ch.Gone {
		s := &ch.Gone[i]
		fmt.Fprintf(out, "  - pid %d %s %s: no longer a target\n", s.PID, s.Usename, render.Cut(s.ApplicationName, 24))
	}
	for _, a := range ch.Actions {
		fmt.Fprintf(out, "  %s pid %d: %s%s\n", a.Function, a.PID, a.Outcome, messageText(a.Message))
	}
	for _, text := range ch.Warnings {
		fmt.Fprintf(out, "  ! %s\n", render.Cut(strings.ReplaceAll(text, "\n", " "), max(w.width-6, 60)))
	}
	if ch.OutcomeChanged {
		fmt.Fprintf(out, "  round ended %s%s\n", cur.Outcome, messageText(cur.Message))
	}
}

func messageText(m string) string {
	if m == "" {
		return ""
	}
	return ": " + m
}

func everyText(d time.Duration) string {
	if d == 0 {
		return "round after round (no pause)"
	}
	return d.String()
}

func modeText(m engine.Mode) string {
	switch m {
	case engine.Yes:
		return "signalling without asking (--yes)"
	case engine.Interactive:
		return "asking at every confirmation"
	}
	return "dry run (nothing is signalled)"
}

func hostPortText(info pg.ServerInfo) string {
	if info.Port == 0 {
		return info.Host
	}
	return fmt.Sprintf("%s:%d", info.Host, info.Port)
}

// sleepUntil waits until t or until ctx ends.
func sleepUntil(ctx context.Context, t time.Time) error {
	d := time.Until(t)
	if d <= 0 {
		return ctx.Err()
	}
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-timer.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
