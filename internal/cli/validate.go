package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/pflag"

	"github.com/pgrunbook/pgrunbook/internal/playbook"
	"github.com/pgrunbook/pgrunbook/internal/playbooktest"
	"github.com/pgrunbook/pgrunbook/internal/position"
)

func validateCmd() *command {
	c := &command{
		name: "validate", summary: "check playbook files and report every problem",
		usage: "FILE|DIR... [--output text|json]",
		about: `Checks playbooks without running them: YAML syntax, unknown keys, types,
step ids and target references, and every expression compiled and
type-checked. Every problem is reported as file:line:col. A directory is
searched for *.yaml and *.yml files (playbook tests, *.test.yaml, are left
to pgrunbook test; a test file named on the command line is checked as one).
Built-in playbook names work too.`,
		notes: "Exit codes: 0 all valid; 2 a problem was found.",
		args:  argPlaybook,
	}
	c.setup = func(fs *pflag.FlagSet) runFunc {
		format := fs.String("format", "text", "`FORMAT` text, or json: one JSON document on stdout with every file and its problems as objects with file, line, column and message, for CI")
		output := outputFlag(fs, `JSON Lines on stdout, one line per file, {"file", "ok", "problems": [{"file", "line", "column", "message"}]}, and nothing on stderr`)
		return func(ctx context.Context, pos []string, stdio IO) error {
			return validateCommand(ctx, c, pos, *format, *output, stdio)
		}
	}
	return c
}

// validateReport is validate's output with --format json.
type validateReport struct {
	Valid    bool                 `json:"valid"`
	Problems int                  `json:"problems"`
	Files    []validateFileReport `json:"files"`
}

type validateFileReport struct {
	File   string            `json:"file"`
	Valid  bool              `json:"valid"`
	Errors []*position.Error `json:"errors"`
}

// validateLine is one line of validate --output json: a file and its
// problems.
type validateLine struct {
	File     string            `json:"file"`
	OK       bool              `json:"ok"`
	Problems []*position.Error `json:"problems"`
}

func validateCommand(_ context.Context, c *command, pos []string, format, output string, stdio IO) error {
	if format != "text" && format != "json" {
		return usageErrorf("--format %q: use text or json", format)
	}
	if err := checkOutput(output); err != nil {
		return err
	}
	if output == outputJSON && format == "json" {
		return usageErrorf("give --output json (one line per file) or --format json (one document), not both")
	}
	lines := output == outputJSON
	if lines {
		// No text either: the report goes out line by line below.
		format = "lines"
	}
	if len(pos) == 0 {
		return usageErrorf("validate needs at least one file\n\n%s", c.help())
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
	report := validateReport{Valid: true, Files: []validateFileReport{}}
	for _, file := range files {
		var err error
		switch _, statErr := os.Stat(file); {
		case statErr != nil && !looksLikePath(file):
			_, err = builtinPlaybook(file)
		case playbooktest.IsTestFile(file):
			// A test file named explicitly is checked as one: its
			// playbook, fixtures, cases and expectations.
			_, err = playbooktest.LoadFile(file)
		default:
			_, err = playbook.Load(file)
		}
		fr := validateFileReport{File: file, Valid: err == nil, Errors: []*position.Error{}}
		var list position.List
		switch {
		case err == nil:
			if format == "text" {
				fmt.Fprintf(stdio.Out, "ok    %s\n", file)
			}
		case errors.As(err, &list):
			report.Problems += len(list)
			fr.Errors = list
			if format == "text" {
				fmt.Fprintln(stdio.Err, list.Detailed())
				fmt.Fprintf(stdio.Out, "FAIL  %s (%d problem(s))\n", file, len(list))
			}
		default:
			report.Problems++
			msg := unwrapPathError(err).Error()
			var ee *exitError
			if errors.As(err, &ee) {
				msg = ee.msg
			}
			text := file + ": " + msg
			fr.Errors = []*position.Error{{File: file, Message: msg}}
			var pe *position.Error
			if errors.As(err, &pe) {
				text = pe.Error()
				fr.Errors = []*position.Error{pe}
			}
			if format == "text" {
				fmt.Fprintln(stdio.Err, text)
				fmt.Fprintf(stdio.Out, "FAIL  %s\n", file)
			}
		}
		report.Valid = report.Valid && fr.Valid
		report.Files = append(report.Files, fr)
		if lines {
			if err := newJSONLines(stdio.Out).line(validateLine{File: fr.File, OK: fr.Valid, Problems: fr.Errors}); err != nil {
				return failf("writing JSON output: %v", err)
			}
		}
	}
	if format == "json" {
		enc := json.NewEncoder(stdio.Out)
		enc.SetIndent("", "  ")
		if err := enc.Encode(report); err != nil {
			return err
		}
	}
	if report.Problems > 0 {
		return &silentExit{code: ExitUsage}
	}
	return nil
}

// playbookFiles lists the playbooks under dir: *.yaml and *.yml files
// other than playbook tests.
func playbookFiles(dir string) ([]string, error) {
	var out []string
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() && (strings.HasSuffix(path, ".yaml") || strings.HasSuffix(path, ".yml")) && !playbooktest.IsTestFile(path) {
			out = append(out, path)
		}
		return nil
	})
	return out, err
}
