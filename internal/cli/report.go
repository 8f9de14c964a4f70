package cli

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"

	"github.com/spf13/pflag"

	"github.com/pgrunbook/pgrunbook/internal/report"
	"github.com/pgrunbook/pgrunbook/internal/transcript"
)

func reportCmd() *command {
	c := &command{
		name: "report", summary: "write a Markdown incident report from a transcript",
		usage: "TRANSCRIPT [FLAGS]",
		about: `Writes a Markdown incident report for a postmortem from a run's transcript:
who ran which playbook with which parameters against which server, a
timeline, what was seen, every prompt and answer, every action and its
outcome, what was verified, and the time to mitigate. The transcript's hash
chain is checked and the report names its head hash.`,
		flagsWhere: "before or after TRANSCRIPT",
		notes: `Exit codes: 0 written; 1 the transcript cannot be read, or its hash chain is
broken (the report is written anyway, and says so); 2 bad usage.`,
		args: argFile,
	}
	c.setup = func(fs *pflag.FlagSet) runFunc {
		redact := fs.Bool("redact-queries", false, "write \"<redacted>\" instead of query text")
		output := fs.StringP("output", "o", "", "`FILE` write the report to FILE instead of stdout")
		return func(_ context.Context, pos []string, stdio IO) error {
			if len(pos) != 1 {
				return usageErrorf("report takes one transcript file\n\n%s", c.help())
			}
			return writeReport(pos[0], *redact, *output, stdio)
		}
	}
	return c
}

// writeReport writes the report of the transcript at path to output, or
// to stdout if output is "".
func writeReport(path string, redact bool, output string, stdio IO) error {
	// One pass reads the events and checks the hash chain.
	res, err := transcript.ReadFile(path)
	var pe *fs.PathError
	switch {
	case errors.As(err, &pe) && pe.Op == "open":
		return failf("cannot read transcript: %v", unwrapPathError(err))
	case err != nil:
		_, err = readTranscriptError(path, err)
		return err
	}
	var out bytes.Buffer
	if err := report.Write(&out, res, report.Options{Path: path, RedactQueries: redact}); err != nil {
		return failf("%s: %v", path, err)
	}
	if output == "" {
		if _, err := stdio.Out.Write(out.Bytes()); err != nil {
			return err
		}
	} else if err := os.WriteFile(output, out.Bytes(), 0o600); err != nil {
		return failf("cannot write the report: %v", err)
	}
	if res.Broken != nil {
		fmt.Fprintf(stdio.Err, "pgrunbook: %s: hash chain broken at %v; the report says so\n", path, res.Broken)
		return &silentExit{code: ExitFailed}
	}
	return nil
}
