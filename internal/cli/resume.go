package cli

import (
	"context"
	"fmt"
	"os"
	"os/user"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/pflag"

	"github.com/pgrunbook/pgrunbook/engine"
	"github.com/pgrunbook/pgrunbook/internal/hoststat"
	"github.com/pgrunbook/pgrunbook/internal/pg"
	"github.com/pgrunbook/pgrunbook/internal/playbook"
	"github.com/pgrunbook/pgrunbook/internal/prompt"
	"github.com/pgrunbook/pgrunbook/internal/render"
	"github.com/pgrunbook/pgrunbook/internal/transcript"
)

func resumeCmd() *command {
	c := &command{
		name: "resume", summary: "carry on an interrupted, killed or disconnected run from its transcript",
		usage: "TRANSCRIPT [FLAGS]",
		about: `Carries on a run that was interrupted (Ctrl-C, SIGTERM), killed, or lost its
connection, from its transcript, appending to the same file with its hash
chain intact (pgrunbook replay --verify checks it).

  - The playbook is the one the run started with (its path, or builtin:NAME),
    with the run's parameter values. If its sha256 changed since, resume
    refuses (exit 2) unless --accept-changed-playbook, which is recorded.
  - The sets of the steps that completed are rebuilt from the transcript; the
    run goes on at the first step that did not complete.
  - Every intent to signal without a recorded outcome is checked on a fresh
    snapshot and recorded as reconciled_gone, reconciled_changed or
    reconciled_unchanged. Nothing is re-sent blindly: an unchanged cancel is
    left to the verify after it; an unchanged terminate is asked again.
  - A confirmation that was not answered is asked again on a fresh table: its
    filter chain is re-run on a fresh snapshot.
  - A last line cut off mid-write (a run killed while writing) is removed from
    the file and kept in the run_resumed event.
`,
		flagsWhere: "before or after TRANSCRIPT",
		notes: `Without a terminal, give --yes or --dry-run.
Exit codes as for run; 2 also when the transcript cannot be resumed (it ended
done, failed, aborted or refused; its chain is broken; its playbook changed).`,
		args: argFile,
	}
	c.setup = func(fs *pflag.FlagSet) runFunc {
		var f resumeFlags
		dsnFlag(fs, &f.dsn, "connection string or URI, as for run (libpq variables apply)")
		fs.BoolVar(&f.dryRun, "dry-run", false, "signal nothing; a dry run is resumed only as a dry run")
		yesFlag(fs, &f.yes, `answer every confirmation with "all"; limits still apply`)
		fs.BoolVar(&f.acceptChanged, "accept-changed-playbook", false, "go on although the playbook's sha256 changed since the run started (its steps must still line up with the record)")
		fs.StringVar(&f.playbookPath, "playbook", "", "`FILE` the playbook's file, if it moved since the run started")
		protectFlag(fs, &f.protect, "run-level protection, as for run (repeatable; the original run's --protect rules are not in its transcript)")
		maxTargetsFlag(fs, &f.maxTargets, "blast-radius limit for every cancel/terminate step")
		statementTimeoutFlag(fs, &f.statementTimeout, "as for run")
		staleAfterFlag(fs, &f.staleAfter, "as for run")
		reconnectForFlag(fs, &f.reconnectFor, "as for run")
		poolerFlag(fs, &f.pooler, "as for run")
		return func(ctx context.Context, pos []string, stdio IO) error {
			return f.resume(ctx, c, pos, stdio)
		}
	}
	return c
}

type resumeFlags struct {
	runFlags
	acceptChanged bool
	playbookPath  string
}

func (f *resumeFlags) resume(ctx context.Context, c *command, pos []string, stdio IO) error {
	if len(pos) != 1 {
		return usageErrorf("resume takes one transcript, got %d arguments\n\n%s", len(pos), c.help())
	}
	if f.maxTargets < 0 {
		return usageErrorf("--max-targets must be at least 1")
	}
	if f.staleAfter <= 0 || f.statementTimeout <= 0 || f.reconnectFor <= 0 {
		return usageErrorf("--stale-after, --statement-timeout and --reconnect-for must be positive durations")
	}
	path := pos[0]

	// Everything is checked before the file is touched.
	rr, err := transcript.ReadFile(path)
	if err != nil {
		return usageErrorf("cannot read transcript %s: %v", path, unwrapPathError(err))
	}
	if len(rr.Events) == 0 || rr.Events[0].Type != transcript.RunStarted {
		return usageErrorf("%s does not start with run_started: not a pgrunbook transcript, or empty", path)
	}
	started := rr.Events[0]
	pb, changedFrom, err := resumePlaybook(started, f.playbookPath, f.acceptChanged)
	if err != nil {
		return err
	}
	vals, err := pb.Resolve(recordedSets(started.Params))
	if err != nil {
		return usageErrorf("the run's recorded parameters do not fit the playbook: %v", err)
	}
	protect, err := pb.CompileProtect(f.protect)
	if err != nil {
		return usageErrorf("%v", err)
	}
	mode, err := runMode(f.dryRun, f.yes, stdio)
	if err != nil {
		return err
	}
	if started.Mode == engine.DryRun && mode != engine.DryRun {
		return usageErrorf("the run was a dry run: it is resumed only with --dry-run (start a real run with pgrunbook run)")
	}
	if _, err := engine.PlanResume(pb, vals, rr.Events); err != nil {
		return usageErrorf("cannot resume %s: %v", path, err)
	}

	client, err := pg.Connect(ctx, pg.Options{DSN: f.dsn, StatementTimeout: f.statementTimeout, PoolerDSN: f.pooler})
	if err != nil {
		return connectError(err, "; the transcript was not touched")
	}
	defer client.Close(ctx)

	tw, info, err := transcript.OpenAppend(path)
	if err != nil {
		return failf("%v", err)
	}
	defer tw.Close()
	tw.RedactQueries = transcriptRedacted(info.Events)

	width := terminalWidth(stdio.OutFile)
	rd := &render.Renderer{W: stdio.Out, Width: width, TranscriptPath: path}
	// The resumption has a header of its own; the rest renders as a
	// run's events do.
	show := func(evs []transcript.Event) {
		start := 0
		for i, ev := range evs {
			if ev.Type != transcript.RunResumed {
				continue
			}
			rd.Events(evs[start:i])
			fmt.Fprintf(stdio.Out, "pgrunbook resume %s (%s), %s\n", ev.Playbook, path, ev.Mode)
			fmt.Fprintf(stdio.Out, "    %s\n", ev.Text)
			start = i + 1
		}
		rd.Events(evs[start:])
	}
	info2 := client.Info()
	opts := engine.Options{
		Playbook: pb, Params: vals, DB: client, Mode: mode, Transcript: tw, ShowBatch: show,
		Server: serverRecord(info2),
		Host:   hoststat.Sampler{}, Protect: protect, MaxTargets: f.maxTargets, StaleAfter: f.staleAfter, ReconnectFor: f.reconnectFor, Version: version(),
		Resume: &engine.ResumeFrom{Events: info.Events, By: resumedBy(stdio), PlaybookChanged: changedFrom, DroppedLine: info.Dropped},
	}
	if mode == engine.Interactive {
		term := &prompt.Terminal{In: stdio.In, Out: stdio.OutFile, Err: stdio.Err, Width: width}
		if tty, err := prompt.OpenTTY(); err == nil {
			defer tty.Close()
			term.In = tty
		}
		opts.Prompter = term
	}
	res, err := engine.Run(ctx, opts)
	if err != nil {
		return failf("the transcript could not be written, so the run stopped: %v", err)
	}
	return resultError(res)
}

// resumePlaybook loads the playbook a run started with (or the file
// given with --playbook) and compares its sha256 with the recorded one.
// It returns the recorded sha256 when the playbook changed and the
// change is accepted.
func resumePlaybook(started transcript.Event, override string, accept bool) (*playbook.Playbook, string, error) {
	var pb *playbook.Playbook
	var err error
	switch {
	case override != "":
		pb, err = resolvePlaybook(override)
	case strings.HasPrefix(started.Path, "builtin:"):
		pb, err = builtinPlaybook(strings.TrimPrefix(started.Path, "builtin:"))
	case started.Path == "":
		return nil, "", usageErrorf("the transcript does not say where its playbook is: give --playbook FILE")
	default:
		if _, serr := os.Stat(started.Path); serr != nil {
			return nil, "", usageErrorf("the run's playbook %s is not there any more (%v): give --playbook FILE", started.Path, unwrapPathError(serr))
		}
		pb, err = resolvePlaybook(started.Path)
	}
	if err != nil {
		return nil, "", err
	}
	if pb.SHA256 == started.SHA256 {
		return pb, "", nil
	}
	if !accept {
		return nil, "", usageErrorf("the playbook changed since the run started: %s had sha256 %s, %s has %s now; nothing was done. "+
			"Resume with --accept-changed-playbook to go on with the changed playbook (recorded in the transcript)",
			started.Path, started.SHA256, pb.Path, pb.SHA256)
	}
	return pb, started.SHA256, nil
}

// recordedSets turns run_started's parameters back into --set arguments.
func recordedSets(params map[string]any) []string {
	names := make([]string, 0, len(params))
	for n := range params {
		names = append(names, n)
	}
	sort.Strings(names)
	sets := make([]string, 0, len(names))
	for _, n := range names {
		var v string
		switch x := params[n].(type) {
		case float64:
			v = strconv.FormatFloat(x, 'f', -1, 64)
		case []any:
			parts := make([]string, len(x))
			for i, p := range x {
				parts[i] = fmt.Sprint(p)
			}
			v = strings.Join(parts, ",")
		default:
			v = fmt.Sprint(x)
		}
		sets = append(sets, n+"="+v)
	}
	return sets
}

// transcriptRedacted reports whether a transcript was written with
// --redact-queries, so that its continuation is too.
func transcriptRedacted(events []transcript.Event) bool {
	for _, ev := range events {
		for _, r := range ev.Rows {
			if r.Query == transcript.RedactedQuery {
				return true
			}
			if r.Query != "" {
				return false
			}
		}
	}
	return false
}

// resumedBy says who resumes a run: OS user and host, the terminal, and
// the SSH client.
func resumedBy(stdio IO) string {
	name := "unknown"
	if u, err := user.Current(); err == nil {
		name = u.Username
	}
	host, _ := os.Hostname()
	parts := []string{name + "@" + host}
	if isTerminal(stdio.In) {
		parts = append(parts, "on a terminal")
	} else {
		parts = append(parts, "without a terminal")
	}
	if ssh := os.Getenv("SSH_CLIENT"); ssh != "" {
		parts = append(parts, "ssh from "+strings.Fields(ssh)[0])
	}
	parts = append(parts, "at "+time.Now().UTC().Format(time.RFC3339))
	return strings.Join(parts, ", ")
}
