package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/pgrunbook/pgrunbook/engine"
	"github.com/pgrunbook/pgrunbook/internal/playbook"
	"github.com/pgrunbook/pgrunbook/internal/render"
	"github.com/pgrunbook/pgrunbook/internal/transcript"
	"github.com/pgrunbook/pgrunbook/playbooks"
)

// builtinPlaybook loads an embedded playbook by name.
func builtinPlaybook(name string) (*playbook.Playbook, error) {
	src, ok := playbooks.Source(name)
	if !ok {
		return nil, usageErrorf("no playbook %q: not a file, and not a built-in (built-in: %s)", name, strings.Join(playbooks.Names(), ", "))
	}
	return playbook.Parse("builtin:"+name, src)
}

const listUsage = `Usage: pgrunbook list

Lists the built-in playbooks with their summaries.
`

func listCommand(_ context.Context, args []string, stdio IO) error {
	fs := flag.NewFlagSet("list", flag.ContinueOnError)
	pos, err := parseInterleaved(fs, args, listUsage, stdio.Out)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return usageErrorf("list takes no arguments")
	}
	names := playbooks.Names()
	width := 0
	for _, n := range names {
		width = max(width, len(n))
	}
	for _, n := range names {
		pb, err := builtinPlaybook(n)
		if err != nil {
			return err
		}
		fmt.Fprintf(stdio.Out, "%-*s  %s\n", width, n, pb.Summary)
	}
	return nil
}

const versionUsage = `Usage: pgrunbook version

Prints pgrunbook's version.
`

func versionCommand(_ context.Context, args []string, stdio IO) error {
	fs := flag.NewFlagSet("version", flag.ContinueOnError)
	if _, err := parseInterleaved(fs, args, versionUsage, stdio.Out); err != nil {
		return err
	}
	fmt.Fprintf(stdio.Out, "pgrunbook %s\n", version())
	return nil
}

const validateUsage = `Usage: pgrunbook validate FILE|DIR...

Checks playbooks without running them: YAML syntax, unknown keys, types,
step ids and target references, and every expression compiled and
type-checked. Every problem is reported as file:line:col. A directory is
searched for *.yaml and *.yml files. Built-in playbook names work too.

Exit codes: 0 all valid; 2 a problem was found.
`

func validateCommand(_ context.Context, args []string, stdio IO) error {
	fset := flag.NewFlagSet("validate", flag.ContinueOnError)
	pos, err := parseInterleaved(fset, args, validateUsage, stdio.Out)
	if err != nil {
		return err
	}
	if len(pos) == 0 {
		return usageErrorf("validate needs at least one file\n\n%s", validateUsage)
	}
	var files []string
	for _, p := range pos {
		st, err := os.Stat(p)
		if err == nil && st.IsDir() {
			found, err := playbookFiles(p)
			if err != nil {
				return usageErrorf("%v", err)
			}
			if len(found) == 0 {
				return usageErrorf("%s: no *.yaml or *.yml files", p)
			}
			files = append(files, found...)
			continue
		}
		files = append(files, p)
	}
	var problems int
	for _, file := range files {
		var err error
		if _, statErr := os.Stat(file); statErr != nil && !looksLikePath(file) {
			_, err = builtinPlaybook(file)
		} else {
			_, err = playbook.Load(file)
		}
		var list playbook.ErrorList
		switch {
		case err == nil:
			fmt.Fprintf(stdio.Out, "ok    %s\n", file)
		case errors.As(err, &list):
			problems += len(list)
			fmt.Fprintln(stdio.Err, list.Detailed())
			fmt.Fprintf(stdio.Out, "FAIL  %s (%d problem(s))\n", file, len(list))
		default:
			problems++
			fmt.Fprintf(stdio.Err, "%s: %v\n", file, unwrapPathError(err))
			fmt.Fprintf(stdio.Out, "FAIL  %s\n", file)
		}
	}
	if problems > 0 {
		return &silentExit{code: engine.ExitUsage}
	}
	return nil
}

func unwrapPathError(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

func playbookFiles(dir string) ([]string, error) {
	var out []string
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() && (strings.HasSuffix(path, ".yaml") || strings.HasSuffix(path, ".yml")) {
			out = append(out, path)
		}
		return nil
	})
	return out, err
}

const replayUsage = `Usage: pgrunbook replay TRANSCRIPT

Shows a recorded run as the operator saw it: the sessions found, the tables,
every question and answer, every action and its outcome, the verify results
and how the run ended. A transcript cut off in the middle of a line (the run
was killed while writing) is shown up to its last whole event.
`

func replayCommand(_ context.Context, args []string, stdio IO) error {
	fset := flag.NewFlagSet("replay", flag.ContinueOnError)
	pos, err := parseInterleaved(fset, args, replayUsage, stdio.Out)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usageErrorf("replay takes one transcript file\n\n%s", replayUsage)
	}
	f, err := os.Open(pos[0])
	if err != nil {
		return failf("cannot open transcript: %v", unwrapPathError(err))
	}
	defer f.Close()
	res, err := transcript.Read(f)
	if err != nil {
		var le *transcript.LineError
		if errors.As(err, &le) {
			return failf("%s:%d: not a transcript event: %v", pos[0], le.Line, le.Err)
		}
		return failf("reading %s: %v", pos[0], err)
	}
	if len(res.Events) == 0 {
		return failf("%s holds no events", pos[0])
	}
	rd := &render.Renderer{W: stdio.Out, Width: terminalWidth(stdio.OutFile)}
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

const explainUsage = `Usage: pgrunbook explain PLAYBOOK

Shows a playbook as a checklist: what it is for, its parameters with their
defaults, its protections, and each step with what it does.
`

func explainCommand(_ context.Context, args []string, stdio IO) error {
	fset := flag.NewFlagSet("explain", flag.ContinueOnError)
	pos, err := parseInterleaved(fset, args, explainUsage, stdio.Out)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usageErrorf("explain takes one playbook\n\n%s", explainUsage)
	}
	pb, err := resolvePlaybook(pos[0])
	if err != nil {
		return err
	}
	explain(stdio, pb)
	return nil
}

func explain(stdio IO, pb *playbook.Playbook) {
	w := stdio.Out
	fmt.Fprintf(w, "%s\n  %s\n", pb.Name, pb.Summary)
	if pb.Guidance != "" {
		fmt.Fprintln(w)
		for _, line := range strings.Split(strings.TrimRight(pb.Guidance, "\n"), "\n") {
			fmt.Fprintln(w, strings.TrimRight("  "+line, " "))
		}
	}
	if len(pb.Params) > 0 {
		fmt.Fprintln(w, "\nParameters (set with --set NAME=VALUE):")
		for _, p := range pb.Params {
			fmt.Fprintf(w, "  %-14s %-9s default %s\n", p.Name, p.Type, playbook.FormatValue(p.Default))
			if p.Help != "" {
				fmt.Fprintf(w, "  %-14s %s\n", "", p.Help)
			}
		}
	}
	if len(pb.Protect) > 0 {
		fmt.Fprintln(w, "\nNever targeted (protect):")
		for _, e := range pb.Protect {
			fmt.Fprintf(w, "  - %s\n", e.Source)
		}
	}
	fmt.Fprintln(w, "\nSteps:")
	for _, st := range pb.Steps {
		fmt.Fprintf(w, "  %2d. [%s] %s\n", st.Index+1, st.Kind, st.DisplayTitle())
		detail := func(format string, args ...any) {
			fmt.Fprintf(w, "        %s\n", fmt.Sprintf(format, args...))
		}
		if st.If != nil {
			detail("only if: %s", st.If.Source)
		}
		switch st.Kind {
		case playbook.KindActivity:
			detail("reads pg_stat_activity (one statement) into set %q", st.ID)
		case playbook.KindFilter:
			f := st.Filter
			detail("from %s where %s", f.From, render.OneLineQuery(f.Where.Source))
			if f.OrderBy != nil {
				order := "ascending"
				if f.Descending {
					order = "descending"
				}
				detail("ordered by %s, %s", f.OrderBy.Source, order)
			}
			if f.Limit > 0 {
				detail("at most %d", f.Limit)
			}
		case playbook.KindConfirm:
			detail("asks before acting on %s: all, a subset, skip, or abort (--yes answers all)", st.Confirm.Targets)
		case playbook.KindCancel, playbook.KindTerminate:
			fn, effect := "pg_cancel_backend", "the statement stops, the session stays connected"
			if st.Kind == playbook.KindTerminate {
				fn, effect = "pg_terminate_backend", "the session ends, its transaction is rolled back"
			}
			detail("%s on %s (at most %d sessions): %s", fn, st.Action.Targets, st.Action.MaxTargets, effect)
		case playbook.KindWait:
			if st.Wait.Until != nil {
				detail("polls until %s, at most %s", st.Wait.Until.Source, st.Wait.Timeout)
			} else {
				detail("pauses %s", st.Wait.For)
			}
		case playbook.KindVerify:
			detail("polls fresh snapshots up to %s; splits %s into %s.passed and %s.failed", st.Verify.Timeout, st.Verify.Targets, st.ID, st.ID)
		case playbook.KindNote:
			for _, line := range strings.Split(strings.TrimRight(st.Note.Text, "\n"), "\n") {
				detail("%s", line)
			}
		}
	}
}
