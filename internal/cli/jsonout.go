package cli

import (
	"encoding/json"
	"fmt"
	"io"
	"slices"

	"github.com/spf13/pflag"

	"github.com/pgrunbook/pgrunbook/internal/transcript"
)

// Output formats of --output.
const (
	outputText = "text"
	outputJSON = "json"
)

// outputFlag defines --output text|json; json is what jsonHelp says.
func outputFlag(fs *pflag.FlagSet, jsonHelp string) *string {
	return fs.String("output", outputText, "`FORMAT` text, or json: "+jsonHelp)
}

// checkOutput refuses an --output value other than text or json.
func checkOutput(out string) error {
	if out != outputText && out != outputJSON {
		return usageErrorf("--output %q: use text or json", out)
	}
	return nil
}

// jsonLines writes values as JSON Lines: one compact JSON document per
// line, as --output json prints them.
type jsonLines struct {
	w   io.Writer
	enc *json.Encoder
	buf []byte
}

func newJSONLines(w io.Writer) *jsonLines {
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	return &jsonLines{w: w, enc: enc}
}

// line writes v as one line.
func (j *jsonLines) line(v any) error { return j.enc.Encode(v) }

// event writes a transcript event as the transcript's own line.
func (j *jsonLines) event(ev transcript.Event) error {
	return j.events([]transcript.Event{ev})
}

// events writes transcript events as the transcript's own lines, in one
// write. An event that cannot be encoded is left out, the others are
// written, and its error is returned.
func (j *jsonLines) events(evs []transcript.Event) error {
	j.buf = j.buf[:0]
	var err error
	for _, ev := range evs {
		b, merr := transcript.MarshalLine(ev)
		if merr != nil {
			err = merr
			continue
		}
		j.buf = append(j.buf, b...)
	}
	if len(j.buf) > 0 {
		if _, werr := j.w.Write(j.buf); werr != nil {
			err = werr
		}
	}
	return err
}

// checkJSONRun refuses --output json for a run that would ask at the
// terminal: its questions would land among the JSON lines.
func checkJSONRun(output string, dryRun, yes bool) error {
	if err := checkOutput(output); err != nil {
		return err
	}
	if output == outputJSON && !dryRun && !yes {
		return usageErrorf("--output json cannot ask for confirmations (stdout is for the JSON lines): add --yes to act without asking (blast-radius limits still apply) or --dry-run to see what the run would do")
	}
	return nil
}

// jsonEventShow returns an engine ShowBatch function that prints each
// event as the transcript records it (redacted when the transcript is),
// one JSON line on stdout, a batch's lines in one write. A failed write is
// reported once on stderr; the transcript stays the record.
func jsonEventShow(stdio IO, redact bool) func([]transcript.Event) {
	jl := newJSONLines(stdio.Out)
	failed := false
	return func(evs []transcript.Event) {
		if redact {
			evs = slices.Clone(evs)
			for i := range evs {
				evs[i] = transcript.Redacted(evs[i])
			}
		}
		if err := jl.events(evs); err != nil && !failed {
			failed = true
			fmt.Fprintf(stdio.Err, "pgrunbook: writing JSON output: %v\n", err)
		}
	}
}

// replayJSON prints a transcript's events as JSON lines on stdout; what
// the text replay says about a cut-off or unfinished run goes to stderr.
func replayJSON(path string, res *transcript.ReadResult, stdio IO) error {
	jl := newJSONLines(stdio.Out)
	finished := false
	for _, ev := range res.Events {
		if err := jl.event(ev); err != nil {
			return failf("writing JSON output: %v", err)
		}
		finished = finished || ev.Type == transcript.RunFinished
	}
	if res.Truncated {
		fmt.Fprintf(stdio.Err, "pgrunbook: %s:%d: cut off (the run was killed while writing it); the events before it are complete\n", path, res.TruncatedLine)
	}
	if !finished {
		fmt.Fprintf(stdio.Err, "pgrunbook: %s: the run did not finish: no run_finished event after seq %d\n", path, res.Events[len(res.Events)-1].Seq)
	}
	return nil
}
