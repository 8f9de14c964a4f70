package playbooktest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"

	"github.com/pgrunbook/pgrunbook/engine"
	"github.com/pgrunbook/pgrunbook/internal/fixture"
	"github.com/pgrunbook/pgrunbook/internal/position"
	"github.com/pgrunbook/pgrunbook/internal/render"
)

// Find expands command-line arguments into test files: a directory is
// searched for *.test.yaml and *.test.yml files (skipping, as the go tool
// does, directories named testdata or starting with . or _), a test file
// is itself, and a playbook file stands for the test file next to it.
func Find(args []string) ([]string, error) {
	var out []string
	for _, arg := range args {
		st, err := os.Stat(arg)
		if err != nil {
			var pe *fs.PathError
			if errors.As(err, &pe) {
				err = pe.Err
			}
			return nil, fmt.Errorf("%s: %v", arg, err)
		}
		if st.IsDir() {
			var found []string
			err := filepath.WalkDir(arg, func(path string, d fs.DirEntry, err error) error {
				if err != nil {
					return err
				}
				if d.IsDir() && path != arg && skipDir(d.Name()) {
					return filepath.SkipDir
				}
				if !d.IsDir() && IsTestFile(path) {
					found = append(found, path)
				}
				return nil
			})
			if err != nil {
				return nil, err
			}
			if len(found) == 0 {
				return nil, fmt.Errorf("%s: no *.test.yaml files", arg)
			}
			sort.Strings(found)
			out = append(out, found...)
			continue
		}
		if IsTestFile(arg) {
			out = append(out, arg)
			continue
		}
		ext := filepath.Ext(arg)
		base := strings.TrimSuffix(arg, ext)
		var test string
		for _, s := range testSuffixes {
			if fileExists(base + s) {
				test = base + s
				break
			}
		}
		if test == "" {
			return nil, fmt.Errorf("%s: not a test file, and no %s.test.yaml next to it", arg, filepath.Base(base))
		}
		out = append(out, test)
	}
	return out, nil
}

// Options configure Run.
type Options struct {
	// Out receives the report.
	Out io.Writer
	// Match, when set, picks the cases whose GROUP/NAME it matches.
	Match *regexp.Regexp
	// Verbose shows every case's run as the operator would see it.
	Verbose bool
}

// Summary counts what Run did.
type Summary struct {
	Passed, Failed int
	// Broken counts test files that could not be loaded.
	Broken int
}

// OK reports whether every file loaded and every case passed.
func (s Summary) OK() bool { return s.Failed == 0 && s.Broken == 0 }

// Run loads each test file and runs its cases, writing one line per case
// (ok or FAIL) and, for a failure, the diff of what was expected (-)
// against what happened (+).
func Run(ctx context.Context, files []string, opts Options) Summary {
	var sum Summary
	w := opts.Out
	for _, file := range files {
		suite, err := LoadFile(file)
		if err != nil {
			sum.Broken++
			fmt.Fprintf(w, "FAIL  %s\n", file)
			msg := err.Error()
			var list position.List
			if errors.As(err, &list) {
				msg = list.Detailed()
			}
			writeIndented(w, msg, "      ")
			continue
		}
		for _, c := range suite.Cases {
			if opts.Match != nil && !opts.Match.MatchString(c.FullName(suite)) {
				continue
			}
			res := suite.RunCase(ctx, c)
			if res.Passed() {
				sum.Passed++
				fmt.Fprintf(w, "ok    %s\n", c.FullName(suite))
			} else {
				sum.Failed++
				fmt.Fprintf(w, "FAIL  %s (%s:%d)\n", c.FullName(suite), suite.Path, c.Line)
				res.writeFailure(w)
			}
			if opts.Verbose {
				writeIndented(w, res.Shown, "    | ")
			}
		}
	}
	switch {
	case sum.OK() && sum.Passed == 0:
		fmt.Fprintln(w, "ok    no case matched")
	case sum.OK():
		fmt.Fprintf(w, "PASS  %d case(s)\n", sum.Passed)
	default:
		var parts []string
		if sum.Failed > 0 {
			parts = append(parts, fmt.Sprintf("%d of %d case(s) failed", sum.Failed, sum.Failed+sum.Passed))
		}
		if sum.Broken > 0 {
			parts = append(parts, fmt.Sprintf("%d test file(s) could not be loaded", sum.Broken))
		}
		fmt.Fprintln(w, "FAIL  "+strings.Join(parts, "; "))
	}
	return sum
}

// Result is how one case went.
type Result struct {
	// Err is set when the case could not run to its end (an answer
	// missing, the engine failing).
	Err error
	// Mismatches are the expectations that did not hold.
	Mismatches []mismatch
	// Shown is the run as the operator would have seen it.
	Shown string
}

// Passed reports whether the case ran and met every expectation.
func (r Result) Passed() bool { return r.Err == nil && len(r.Mismatches) == 0 }

// Diff returns the failure report: each unmet expectation with its diff.
func (r Result) Diff() string {
	var b bytes.Buffer
	r.writeFailure(&b)
	return b.String()
}

func (r Result) writeFailure(w io.Writer) {
	if r.Err != nil {
		writeIndented(w, r.Err.Error(), "      ")
	}
	for _, m := range r.Mismatches {
		fmt.Fprintf(w, "      %s (- expected, + actual):\n", m.what)
		for _, l := range m.lines {
			fmt.Fprintf(w, "        %s\n", l)
		}
	}
}

// RunCase runs one case on a fresh offline source.
func (s *Suite) RunCase(ctx context.Context, c *Case) Result {
	var shown bytes.Buffer
	rd := &render.Renderer{W: &shown, Width: 120}
	prompter := &scripted{answers: c.answers}
	run, err := fixture.RunOffline(ctx, fixture.RunOptions{
		Playbook: s.Playbook, Params: c.params, Source: c.source(),
		Mode: c.mode, Prompter: prompter, Protect: c.protect, MaxTargets: c.maxTargets,
		Server: c.server, Show: rd.Event, Version: "test",
	})
	res := Result{Shown: shown.String()}
	if err != nil {
		res.Err = err
		return res
	}
	if prompter.err != nil {
		res.Err = prompter.err
	} else if n := len(prompter.answers); n > 0 {
		res.Err = fmt.Errorf("%d answer(s) left over: the run asked fewer questions than the case answers", n)
	}
	res.Mismatches = c.expect.compare(observe(s.Playbook, run.Events))
	return res
}

// scripted answers confirmations from a case's answers, in order.
type scripted struct {
	answers []engine.Answer
	err     error
}

// errNoAnswer stops a run that asks more than the case answers.
var errNoAnswer = errors.New("no answer left")

func (p *scripted) Choose(_ context.Context, q engine.Question) (engine.Answer, error) {
	if len(p.answers) == 0 {
		p.err = fmt.Errorf("the run asked %q and the case has no answer left for it", q.Text)
		return engine.Answer{}, errNoAnswer
	}
	a := p.answers[0]
	p.answers = p.answers[1:]
	n := len(q.Rows)
	if a.Choice == engine.ChooseSubset {
		n = len(a.PIDs)
	}
	if engine.NeedsTypedCount(q.Action, n) {
		a.TypedCount = n // as an operator types it
	}
	return a, nil
}

func writeIndented(w io.Writer, text, indent string) {
	for _, line := range strings.Split(strings.TrimRight(text, "\n"), "\n") {
		fmt.Fprintln(w, strings.TrimRight(indent+line, " "))
	}
}

// skipDir reports whether a directory met while searching is left out.
func skipDir(name string) bool {
	return name == "testdata" || strings.HasPrefix(name, ".") || strings.HasPrefix(name, "_")
}
