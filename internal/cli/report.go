package cli

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"os"

	"github.com/pgrunbook/pgrunbook/engine"
	"github.com/pgrunbook/pgrunbook/internal/report"
)

func init() {
	register(command{"report", "write a Markdown incident report from a transcript", reportUsage, reportCommand})
}

const reportUsage = `Usage: pgrunbook report TRANSCRIPT [FLAGS]

Writes a Markdown incident report for a postmortem from a run's transcript:
who ran which playbook with which parameters against which server, a
timeline, what was seen, every prompt and answer, every action and its
outcome, what was verified, and the time to mitigate. The transcript's hash
chain is checked and the report names its head hash.

Flags (before or after TRANSCRIPT):
      --redact-queries   write "<redacted>" instead of query text
  -o, --output FILE      write the report to FILE instead of stdout

Exit codes: 0 written; 1 the transcript cannot be read, or its hash chain is
broken (the report is written anyway, and says so); 2 bad usage.
`

func reportCommand(_ context.Context, args []string, stdio IO) error {
	fset := flag.NewFlagSet("report", flag.ContinueOnError)
	redact := fset.Bool("redact-queries", false, "")
	var output string
	fset.StringVar(&output, "output", "", "")
	fset.StringVar(&output, "o", "", "")
	pos, err := parseInterleaved(fset, args, reportUsage, stdio.Out)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usageErrorf("report takes one transcript file\n\n%s", reportUsage)
	}
	path := pos[0]
	// One pass reads the events and checks the hash chain.
	res, err := readTranscript(path)
	if err != nil {
		return err
	}
	var out bytes.Buffer
	if err := report.Write(&out, res, report.Options{Path: path, RedactQueries: *redact}); err != nil {
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
		return &silentExit{code: engine.ExitFailed}
	}
	return nil
}
