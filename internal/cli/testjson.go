package cli

import (
	"context"
	"errors"
	"regexp"
	"strings"

	"github.com/pgrunbook/pgrunbook/internal/playbooktest"
	"github.com/pgrunbook/pgrunbook/internal/position"
)

// testCaseLine is one line of test --output json: a case and how it went.
// A test file that cannot be loaded is one line with Case empty and Error
// set.
type testCaseLine struct {
	Type     string `json:"type"` // "case"
	File     string `json:"file"`
	Playbook string `json:"playbook,omitempty"`
	Case     string `json:"case,omitempty"`
	Line     int    `json:"line,omitempty"`
	Passed   bool   `json:"passed"`
	// Failures is the text report of a failed case: each unmet
	// expectation with its diff, or why the case could not run.
	Failures string `json:"failures,omitempty"`
	// Error says why a test file could not be loaded.
	Error string `json:"error,omitempty"`
}

// testSummaryLine is the last line of test --output json.
type testSummaryLine struct {
	Type   string `json:"type"` // "summary"
	Passed int    `json:"passed"`
	Failed int    `json:"failed"`
	Broken int    `json:"broken"`
	OK     bool   `json:"ok"`
}

// testJSON runs the cases of files as playbooktest.Run does and prints a
// JSON line per case and a summary line.
func testJSON(ctx context.Context, files []string, match *regexp.Regexp, stdio IO) (playbooktest.Summary, error) {
	jl := newJSONLines(stdio.Out)
	var sum playbooktest.Summary
	for _, file := range files {
		suite, err := playbooktest.LoadFile(file)
		if err != nil {
			sum.Broken++
			msg := err.Error()
			var list position.List
			if errors.As(err, &list) {
				msg = list.Detailed()
			}
			if err := jl.line(testCaseLine{Type: "case", File: file, Error: msg}); err != nil {
				return sum, failf("writing JSON output: %v", err)
			}
			continue
		}
		for _, c := range suite.Cases {
			if match != nil && !match.MatchString(c.FullName(suite)) {
				continue
			}
			res := suite.RunCase(ctx, c)
			line := testCaseLine{Type: "case", File: suite.Path, Playbook: suite.Playbook.Name, Case: c.Name, Line: c.Line, Passed: res.Passed()}
			if res.Passed() {
				sum.Passed++
			} else {
				sum.Failed++
				line.Failures = dedent(res.Diff(), "      ")
			}
			if err := jl.line(line); err != nil {
				return sum, failf("writing JSON output: %v", err)
			}
		}
	}
	err := jl.line(testSummaryLine{Type: "summary", Passed: sum.Passed, Failed: sum.Failed, Broken: sum.Broken, OK: sum.OK()})
	if err != nil {
		return sum, failf("writing JSON output: %v", err)
	}
	return sum, nil
}

// dedent removes indent from the start of every line of text that has it.
func dedent(text, indent string) string {
	lines := strings.Split(strings.TrimRight(text, "\n"), "\n")
	for i, l := range lines {
		lines[i] = strings.TrimPrefix(l, indent)
	}
	return strings.Join(lines, "\n")
}
