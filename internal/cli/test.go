package cli

import (
	"context"
	"regexp"

	"github.com/spf13/pflag"

	"github.com/pgrunbook/pgrunbook/internal/playbooktest"
)

func testCmd() *command {
	return &command{
		name: "test", summary: "run playbook tests against recorded or hand-written sessions",
		usage: "[DIR|FILE...] [FLAGS]",
		about: `Runs playbook tests: NAME.test.yaml files next to the playbooks, whose cases
give the sessions of pg_stat_activity (a fixture, or the snapshots of a
recorded transcript), parameters and a mode, and expect the target sets of
named steps, the actions, the prompts, the skipped steps and the outcome.
Each case runs the real engine on an offline copy of the sessions: filters,
protections, limits and conditions behave as in a live run, and signals are
simulated. No server is needed.

A directory is searched for *.test.yaml files (default: the current
directory); a playbook file stands for the test file next to it.`,
		flagsWhere: "before or after the files",
		notes: `The format is described in docs/runbooks-as-code.md.
Exit codes: 0 every case passed; 1 a case failed; 2 a test file or its
playbook is invalid, or bad usage.`,
		args: argFileOrDir,
		setup: func(fs *pflag.FlagSet) runFunc {
			var f testFlags
			fs.StringVar(&f.run, "run", "", "`REGEX` run only the cases whose PLAYBOOK/CASE NAME matches")
			fs.BoolVarP(&f.verbose, "verbose", "v", false, "show each case's run as the operator would see it")
			f.output = outputFlag(fs, `one JSON line per case on stdout ({"type": "case", "file", "playbook", "case", "line", "passed", "failures"}; a file that cannot be loaded has "error") and a last {"type": "summary", "passed", "failed", "broken", "ok"}`)
			return f.runTests
		},
	}
}

// testFlags are the test command's flags.
type testFlags struct {
	run     string
	verbose bool
	output  *string
}

func (f *testFlags) runTests(ctx context.Context, pos []string, stdio IO) error {
	output := *f.output
	if err := checkOutput(output); err != nil {
		return err
	}
	if output == outputJSON && f.verbose {
		return usageErrorf("-v shows the runs as text; it does not go with --output json")
	}
	if len(pos) == 0 {
		pos = []string{"."}
	}
	var match *regexp.Regexp
	var err error
	if f.run != "" {
		if match, err = regexp.Compile(f.run); err != nil {
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
		sum = playbooktest.Run(ctx, files, playbooktest.Options{Out: stdio.Out, Match: match, Verbose: f.verbose})
	}
	switch {
	case sum.Broken > 0:
		return &silentExit{code: ExitUsage}
	case sum.Failed > 0:
		return &silentExit{code: ExitFailed}
	}
	return nil
}
