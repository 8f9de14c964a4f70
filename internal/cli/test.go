package cli

import (
	"context"
	"flag"
	"regexp"

	"github.com/pgrunbook/pgrunbook/engine"
	"github.com/pgrunbook/pgrunbook/internal/playbooktest"
)

func init() {
	register(command{"test", "run playbook tests against recorded or hand-written sessions", testUsage, testCommand})
}

const testUsage = `Usage: pgrunbook test [DIR|FILE...] [FLAGS]

Runs playbook tests: NAME.test.yaml files next to the playbooks, whose cases
give the sessions of pg_stat_activity (a fixture, or the snapshots of a
recorded transcript), parameters and a mode, and expect the target sets of
named steps, the actions, the prompts, the skipped steps and the outcome.
Each case runs the real engine on an offline copy of the sessions: filters,
protections, limits and conditions behave as in a live run, and signals are
simulated. No server is needed.

A directory is searched for *.test.yaml files (default: the current
directory); a playbook file stands for the test file next to it.

Flags (before or after the files):
      -run REGEX   run only the cases whose PLAYBOOK/CASE NAME matches
      -v           show each case's run as the operator would see it
      --output FORMAT
                   text (default), or json: one JSON line per case on stdout
                   ({"type": "case", "file", "playbook", "case", "line",
                   "passed", "failures"}; a file that cannot be loaded has
                   "error") and a last {"type": "summary", "passed",
                   "failed", "broken", "ok"}

The format is described in docs/runbooks-as-code.md.
Exit codes: 0 every case passed; 1 a case failed; 2 a test file or its
playbook is invalid, or bad usage.
`

func testCommand(ctx context.Context, args []string, stdio IO) error {
	fset := flag.NewFlagSet("test", flag.ContinueOnError)
	run := fset.String("run", "", "")
	verbose := fset.Bool("v", false, "")
	var output string
	addOutputFlag(fset, &output)
	pos, err := parseInterleaved(fset, args, testUsage, stdio.Out)
	if err != nil {
		return err
	}
	if err := checkOutput(output); err != nil {
		return err
	}
	if output == outputJSON && *verbose {
		return usageErrorf("-v shows the runs as text; it does not go with --output json")
	}
	if len(pos) == 0 {
		pos = []string{"."}
	}
	var match *regexp.Regexp
	if *run != "" {
		if match, err = regexp.Compile(*run); err != nil {
			return usageErrorf("-run: %v", err)
		}
	}
	files, err := playbooktest.Find(pos)
	if err != nil {
		return usageErrorf("%v", unwrapPathError(err))
	}
	var sum playbooktest.Summary
	if output == outputJSON {
		if sum, err = testJSON(ctx, files, match, stdio); err != nil {
			return err
		}
	} else {
		sum = playbooktest.Run(ctx, files, playbooktest.Options{Out: stdio.Out, Match: match, Verbose: *verbose})
	}
	switch {
	case sum.Broken > 0:
		return &silentExit{code: engine.ExitUsage}
	case sum.Failed > 0:
		return &silentExit{code: engine.ExitFailed}
	}
	return nil
}
