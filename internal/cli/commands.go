package cli

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"strings"

	"github.com/spf13/pflag"

	"github.com/pgrunbook/pgrunbook/internal/playbook"
	"github.com/pgrunbook/pgrunbook/internal/render"
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

func listCmd() *command {
	return &command{
		name: "list", summary: "list the built-in playbooks",
		usage: "[--output text|json]",
		about: "Lists the built-in playbooks with their summaries.",
		setup: func(fs *pflag.FlagSet) runFunc {
			output := outputFlag(fs, "one JSON line per playbook on stdout with its name, summary and parameters (name, type, default, required, help)")
			return func(_ context.Context, pos []string, stdio IO) error {
				if len(pos) > 0 {
					return usageErrorf("list takes no arguments")
				}
				if err := checkOutput(*output); err != nil {
					return err
				}
				if *output == outputJSON {
					return listJSON(stdio)
				}
				return listText(stdio)
			}
		},
	}
}

// listText prints each built-in playbook's name and summary.
func listText(stdio IO) error {
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

func versionCmd() *command {
	return &command{
		name: "version", summary: "print pgrunbook's version",
		about: "Prints pgrunbook's version.",
		setup: func(*pflag.FlagSet) runFunc {
			return func(_ context.Context, _ []string, stdio IO) error {
				fmt.Fprintf(stdio.Out, "pgrunbook %s\n", version())
				return nil
			}
		},
	}
}

func unwrapPathError(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

func explainCmd() *command {
	c := &command{
		name: "explain", summary: "show a playbook's parameters and steps as a checklist",
		usage: "PLAYBOOK",
		about: `Shows a playbook as a checklist: what it is for, its parameters with their
defaults, its protections, and each step with what it does.`,
		args: argPlaybook,
	}
	c.setup = func(*pflag.FlagSet) runFunc {
		return func(_ context.Context, pos []string, stdio IO) error {
			if len(pos) != 1 {
				return usageErrorf("explain takes one playbook\n\n%s", c.help())
			}
			pb, err := resolvePlaybook(pos[0])
			if err != nil {
				return err
			}
			explain(stdio, pb)
			return nil
		}
	}
	return c
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
	fmt.Fprintln(w, "\nProtected by default (a playbook narrows these only with unprotect:):")
	for _, d := range pb.Defaults() {
		fmt.Fprintf(w, "  - %s: %s\n", d.Name, d.Doc)
		fmt.Fprintf(w, "    %s\n", defaultMatches(d))
	}
	if len(pb.Unprotect) > 0 {
		fmt.Fprintf(w, "  not in force here (unprotect): %s\n", strings.Join(pb.Unprotect, ", "))
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
			a := st.Activity
			switch {
			case a.Samples > 1:
				detail("reads pg_stat_activity %d times, %s apart (one statement each); set %q keeps the sessions in every sample", a.Samples, a.Interval, st.ID)
			default:
				detail("reads pg_stat_activity (one statement) into set %q", st.ID)
			}
			if a.Stable != nil {
				detail("keeps only sessions for which %s held in every sample", a.Stable.Source)
			}
			if a.HostStats {
				detail("reads host facts (CPU, memory, I/O over %s) when pgrunbook runs on the database host", a.HostInterval)
			}
		case playbook.KindSummarize:
			sm := st.Summarize
			top := ""
			if sm.Top > 0 {
				top = fmt.Sprintf(", the %d largest", sm.Top)
			}
			detail("groups %s by %s and counts them, largest first%s; %s[0].count is the largest group", sm.From, strings.Join(sm.By, ", "), top, st.ID)
		case playbook.KindHorizon:
			detail("reads replication slots, prepared transactions and hot_standby_feedback standbys (one statement) into %s.slots, %s.prepared, %s.standbys", st.ID, st.ID, st.ID)
			detail("shows the statement a DBA would run for each; runs none of them")
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
			if st.Action.Timeout > 0 {
				detail("waits up to %s for each session to exit (PostgreSQL 14 and later; on 13 the verify after it waits)", st.Action.Timeout)
			}
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

// defaultMatches says what a default protection matches on.
func defaultMatches(d playbook.DefaultProtection) string {
	var parts []string
	if len(d.Applications) > 0 {
		parts = append(parts, "application_name starting with "+strings.Join(d.Applications, ", "))
	}
	if len(d.BackendTypes) > 0 {
		parts = append(parts, "backend_type starting with "+strings.Join(d.BackendTypes, ", "))
	}
	if len(d.Roles) > 0 {
		parts = append(parts, "usename "+strings.Join(d.Roles, ", "))
	}
	return strings.Join(parts, "; or ")
}
