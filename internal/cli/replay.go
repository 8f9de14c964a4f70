package cli

import (
	"context"
	"errors"
	"fmt"
	"io/fs"

	"github.com/spf13/pflag"

	"github.com/pgrunbook/pgrunbook/internal/render"
	"github.com/pgrunbook/pgrunbook/internal/replay"
	"github.com/pgrunbook/pgrunbook/internal/transcript"
)

func replayCmd() *command {
	c := &command{
		name: "replay", summary: "show a recorded run as the operator saw it",
		usage: "TRANSCRIPT [FLAGS]",
		about: `Shows a recorded run as the operator saw it: the sessions found, the tables,
every question and answer, every action and its outcome, the verify results
and how the run ended. A transcript cut off in the middle of a line (the run
was killed while writing) is shown up to its last whole event.`,
		flagsWhere: "before or after TRANSCRIPT",
		notes: `Exit codes: 0 shown, chain intact, or no difference; 1 the chain is broken
or the playbook decides differently; 2 bad usage or an invalid playbook.`,
		args: argFile,
	}
	c.setup = func(fs *pflag.FlagSet) runFunc {
		var f replayFlags
		fs.BoolVar(&f.verify, "verify", false, "check the transcript's hash chain instead: every event carries the hash of the line before it; the first line where the chain breaks is named")
		fs.StringVar(&f.against, "against", "", "`PLAYBOOK` re-run PLAYBOOK (a changed copy, usually) on the recorded snapshots, with the recorded parameters, mode and answers, and report every decision that differs: sessions now targeted or spared, steps now skipped, prompts that changed")
		fs.StringArrayVar(&f.sets, "set", nil, "`NAME=VALUE` with --against: override a recorded parameter")
		fs.StringArrayVar(&f.protect, "protect", nil, "`EXPR` with --against: a run-level protection rule")
		fs.IntVar(&f.maxTargets, "max-targets", 0, "`N` with --against: the run's --max-targets")
		f.output = outputFlag(fs, "every recorded event as one JSON line on stdout, as the transcript holds it (a note on a cut-off or unfinished run goes to stderr); not with --verify or --against")
		return func(ctx context.Context, pos []string, stdio IO) error {
			return f.replay(ctx, c, pos, stdio)
		}
	}
	return c
}

// replayFlags are the replay command's flags.
type replayFlags struct {
	verify        bool
	against       string
	sets, protect []string
	maxTargets    int
	output        *string
}

func (f *replayFlags) replay(ctx context.Context, c *command, pos []string, stdio IO) error {
	output := *f.output
	if len(pos) != 1 {
		return usageErrorf("replay takes one transcript file\n\n%s", c.help())
	}
	if f.against == "" && (len(f.sets) > 0 || len(f.protect) > 0 || f.maxTargets != 0) {
		return usageErrorf("--set, --protect and --max-targets go with --against")
	}
	if f.maxTargets < 0 {
		return usageErrorf("--max-targets must be at least 1")
	}
	if err := checkOutput(output); err != nil {
		return err
	}
	if output == outputJSON && (f.verify || f.against != "") {
		return usageErrorf("--output json prints the recorded events; --verify and --against report in text")
	}
	if f.verify {
		if err := verifyChain(pos[0], stdio); err != nil || f.against == "" {
			return err
		}
	}
	if f.against != "" {
		return replayAgainst(ctx, pos[0], f.against, replay.Options{Sets: f.sets, Protect: f.protect, MaxTargets: f.maxTargets}, stdio)
	}
	res, err := readTranscript(pos[0])
	if err != nil {
		return err
	}
	if len(res.Events) == 0 {
		return failf("%s holds no events", pos[0])
	}
	if output == outputJSON {
		return replayJSON(pos[0], res, stdio)
	}
	rd := &render.Renderer{W: stdio.Out, Width: terminalWidth(stdio.OutFile), Color: render.ColorFor(isTerminal(stdio.OutFile))}
	finished := false
	for _, ev := range res.Events {
		rd.Event(ev)
		finished = finished || ev.Type == transcript.RunFinished
	}
	rd.End()
	if res.Truncated {
		fmt.Fprintf(stdio.Out, "\n[transcript cut off at line %d: the run was killed while writing it; everything above is complete]\n", res.TruncatedLine)
	}
	if !finished {
		fmt.Fprintf(stdio.Out, "\n[the run did not finish: the transcript has no run_finished event after seq %d]\n", res.Events[len(res.Events)-1].Seq)
	}
	return nil
}

// verifyChain checks a transcript's hash chain and says where it breaks.
func verifyChain(path string, stdio IO) error {
	res, err := transcript.VerifyFile(path)
	var ce *transcript.ChainError
	var lim *transcript.LimitError
	var pe *fs.PathError
	switch {
	case errors.As(err, &pe) && pe.Op == "open":
		return failf("cannot open transcript: %v", unwrapPathError(err))
	case errors.As(err, &ce):
		return failf("%s:%d: hash chain broken: %s", path, ce.Line, ce.Reason)
	case errors.As(err, &lim):
		return failf("%v", lim)
	case err != nil:
		return failf("reading %s: %v", path, err)
	case res.Events == 0:
		return failf("%s holds no events", path)
	}
	fmt.Fprintf(stdio.Out, "%s: hash chain intact over %d event(s)\n", path, res.Events)
	if res.Truncated {
		fmt.Fprintf(stdio.Out, "  line %d is cut off (the run was killed while writing it); the events before it are intact\n", res.TruncatedLine)
	}
	fmt.Fprintf(stdio.Out, "  head: sha256:%s\n", res.Head)
	fmt.Fprintln(stdio.Out, "  (the hash of the last event; the chain cannot show a change to that line itself,")
	fmt.Fprintln(stdio.Out, "  so keep the head with the incident record and compare it here later)")
	return nil
}

// readTranscript reads a transcript file for a command, with errors that
// name the file (and the line, for a line that is not an event).
func readTranscript(path string) (*transcript.ReadResult, error) {
	res, err := transcript.ReadFile(path)
	if err == nil {
		return res, nil
	}
	return readTranscriptError(path, err)
}

// readTranscriptError is the result of reading the transcript at path
// that ended with err: err said as a command's failure.
func readTranscriptError(path string, err error) (*transcript.ReadResult, error) {
	var le *transcript.LineError
	var lim *transcript.LimitError
	switch {
	case errors.As(err, &le):
		return nil, failf("%s:%d: not a transcript event: %v", path, le.Line, le.Err)
	case errors.As(err, &lim):
		return nil, failf("%v", lim)
	case errors.Is(err, fs.ErrNotExist) || errors.Is(err, fs.ErrPermission):
		return nil, failf("cannot open transcript: %v", unwrapPathError(err))
	}
	return nil, failf("reading %s: %v", path, err)
}

// replayAgainst re-runs a playbook on a transcript's snapshots and reports
// the differences.
func replayAgainst(ctx context.Context, path, pbArg string, opts replay.Options, stdio IO) error {
	res, err := readTranscript(path)
	if err != nil {
		return err
	}
	pb, err := resolvePlaybook(pbArg)
	if err != nil {
		return err
	}
	cmp, err := replay.Against(ctx, res.Events, pb, opts)
	if err != nil {
		return usageErrorf("replay --against: %v", err)
	}
	cmp.Write(stdio.Out, path)
	if !cmp.Identical() {
		return &silentExit{code: ExitFailed}
	}
	return nil
}
