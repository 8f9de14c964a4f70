package cli

import (
	"slices"
	"strings"
	"testing"

	"github.com/spf13/pflag"

	"github.com/pgrunbook/pgrunbook/engine"
)

// TestHelpShowsEveryFlagAndItsDefault: each command's --help is made from
// its flag definitions, so every flag is in it with its default.
func TestHelpShowsEveryFlagAndItsDefault(t *testing.T) {
	for _, c := range commandTable() {
		help := c.help()
		if !strings.HasPrefix(help, "Usage: pgrunbook "+c.name) {
			t.Errorf("%s: help starts %q", c.name, help[:min(len(help), 40)])
		}
		c.flagSet().VisitAll(func(f *pflag.Flag) {
			meta, _ := placeholder(f)
			name := strings.TrimSpace("--" + f.Name + " " + meta)
			if !strings.Contains(help, name) {
				t.Errorf("%s: help lacks %q:\n%s", c.name, name, help)
			}
			if f.Shorthand != "" && !strings.Contains(help, "-"+f.Shorthand+", --"+f.Name) {
				t.Errorf("%s: help lacks -%s for --%s", c.name, f.Shorthand, f.Name)
			}
			// A default is shown from the definition, or, where the help
			// text says it in words ("(default: ..."), that way only.
			_, text := placeholder(f)
			flat := strings.Join(strings.Fields(help), " ")
			switch def := shownDefault(f); {
			case def == "":
			case strings.Contains(text, "(default:"):
				if strings.Contains(flat, "(default "+def+")") {
					t.Errorf("%s: --%s says its default in words and also shows %s", c.name, f.Name, def)
				}
			case !strings.Contains(flat, "(default "+def+")"):
				t.Errorf("%s: help lacks --%s's default %s:\n%s", c.name, f.Name, def, help)
			}
		})
	}
}

func TestCommandTableHasUniqueNames(t *testing.T) {
	var names []string
	for _, c := range commandTable() {
		if slices.Contains(names, c.name) {
			t.Errorf("command %s is in the table twice", c.name)
		}
		if c.summary == "" || c.setup == nil {
			t.Errorf("command %s has no summary or no setup", c.name)
		}
		names = append(names, c.name)
	}
	if lookupCommand("run") == nil || lookupCommand("no-such") != nil {
		t.Error("lookupCommand does not find by name")
	}
}

func TestShownDefault(t *testing.T) {
	fs := newFlagSet("t")
	fs.Duration("a", engine.DefaultStaleAfter, "")
	fs.Duration("b", 90*60e9, "")
	fs.Int("c", 0, "")
	fs.String("d", "text", "")
	fs.Bool("e", false, "")
	fs.StringArray("f", nil, "")
	want := map[string]string{"a": "1m", "b": "1h30m", "c": "", "d": "text", "e": "", "f": ""}
	for name, w := range want {
		if got := shownDefault(fs.Lookup(name)); got != w {
			t.Errorf("default of %s shown as %q, want %q", name, got, w)
		}
	}
}

// TestSingleDashLongFlags: the single-dash long forms Go's flag package
// accepted keep working beside pflag's shorthands; values are left alone.
func TestSingleDashLongFlags(t *testing.T) {
	fs := newFlagSet("t")
	fs.Bool("dry-run", false, "")
	fs.BoolP("yes", "y", false, "")
	fs.StringP("dsn", "d", "", "")
	fs.String("run", "", "")
	fs.Int("keep-quiet", 0, "")
	for _, c := range []struct{ in, want []string }{
		{[]string{"-dry-run", "-yes", "x"}, []string{"--dry-run", "--yes", "x"}},
		{[]string{"-run", "-dry-run"}, []string{"--run", "-dry-run"}},
		{[]string{"-run=wrong", "-d", "-yes"}, []string{"--run=wrong", "-d", "-yes"}},
		{[]string{"--keep-quiet", "-1", "-y"}, []string{"--keep-quiet", "-1", "-y"}},
		{[]string{"-nope", "--", "-yes"}, []string{"-nope", "--", "-yes"}},
		{[]string{"-help"}, []string{"--help"}},
	} {
		if got := singleDashLong(fs, c.in); !slices.Equal(got, c.want) {
			t.Errorf("singleDashLong(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}

// TestExitCodesMatchTheEngine: the engine records in run_finished the
// codes the command line exits with.
func TestExitCodesMatchTheEngine(t *testing.T) {
	for _, c := range []struct{ cli, engine int }{
		{ExitOK, engine.ExitOK}, {ExitFailed, engine.ExitFailed}, {ExitUsage, engine.ExitUsage},
		{ExitAborted, engine.ExitAborted}, {ExitInterrupted, engine.ExitInterrupted},
	} {
		if c.cli != c.engine {
			t.Errorf("cli exit code %d, engine %d", c.cli, c.engine)
		}
	}
	if got := [5]int{ExitOK, ExitFailed, ExitUsage, ExitAborted, ExitInterrupted}; got != [5]int{0, 1, 2, 3, 130} {
		t.Errorf("exit codes %v changed; the README documents 0 1 2 3 130", got)
	}
	var b strings.Builder
	for _, c := range []struct {
		err  error
		want int
	}{
		{nil, 0},
		{usageErrorf("x"), 2},
		{failf("x"), 1},
		{&silentExit{code: 3}, 3},
		{resultError(engine.Result{Outcome: engine.OutcomeInterrupted, ExitCode: engine.ExitInterrupted}), 130},
		{resultError(engine.Result{Outcome: engine.OutcomeDone}), 0},
	} {
		if got := exitCode(c.err, &b); got != c.want {
			t.Errorf("exitCode(%v) = %d, want %d", c.err, got, c.want)
		}
	}
}
