package cli

import (
	"errors"
	"strings"

	"github.com/spf13/pflag"
)

// Flags are defined with pflag, once per command, in the command's setup
// function (see command). Each flag's usage text may start with a
// placeholder in backquotes, e.g. "`DSN` connection string or URI": the
// help shows it as "--dsn DSN" and the completion scripts complete it by
// its kind (see placeholderKind). The help text, the default shown and the
// completions all come from these definitions.

// newFlagSet returns an empty flag set for a command: flags may come
// before, between or after the positional arguments, "--" ends them, and
// help keeps the order of definition.
func newFlagSet(name string) *pflag.FlagSet {
	fs := pflag.NewFlagSet(name, pflag.ContinueOnError)
	fs.SetInterspersed(true)
	fs.SortFlags = false
	fs.Usage = func() {}
	fs.SetOutput(discard{})
	return fs
}

// discard swallows pflag's own error printing; errors are returned and
// reported once, by Main.
type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }

// parseFlags parses a command's arguments and returns the positional
// ones. --help (or -h) prints the command's help and ends it with exit 0.
func parseFlags(c *command, fs *pflag.FlagSet, args []string, stdio IO) ([]string, error) {
	err := fs.Parse(singleDashLong(fs, args))
	switch {
	case errors.Is(err, pflag.ErrHelp):
		_, werr := stdio.Out.Write([]byte(c.help()))
		if werr != nil {
			return nil, werr
		}
		return nil, &silentExit{code: ExitOK}
	case err != nil:
		return nil, usageErrorf("%s: %v\n\n%s", c.name, err, c.help())
	}
	return fs.Args(), nil
}

// singleDashLong rewrites "-name" and "-name=value" to "--name..." for
// every long flag of fs, so that the single-dash forms the command line
// has always accepted (Go's flag package took -dry-run, -yes, -run) keep
// working beside pflag's shorthand letters. Values of flags that take one
// and everything after "--" are left alone.
func singleDashLong(fs *pflag.FlagSet, args []string) []string {
	out := make([]string, 0, len(args))
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			return append(out, args[i:]...)
		}
		if !strings.HasPrefix(a, "-") || a == "-" {
			out = append(out, a)
			continue
		}
		name, hasValue := strings.TrimLeft(a, "-"), false
		if n, _, ok := strings.Cut(name, "="); ok {
			name, hasValue = n, true
		}
		f := fs.Lookup(name)
		if f == nil && len(name) == 1 {
			f = fs.ShorthandLookup(name)
		}
		if !strings.HasPrefix(a, "--") && len(name) > 1 && (f != nil || name == "help") {
			a = "-" + a
		}
		out = append(out, a)
		if f != nil && f.NoOptDefVal == "" && !hasValue && i+1 < len(args) {
			// The next argument is this flag's value, whatever it looks like.
			i++
			out = append(out, args[i])
		}
	}
	return out
}

// placeholder splits a flag's usage into the placeholder of its value
// ("DSN" in "`DSN` connection string") and the rest of the text.
func placeholder(f *pflag.Flag) (meta, text string) {
	if rest, ok := strings.CutPrefix(f.Usage, "`"); ok {
		if m, t, ok := strings.Cut(rest, "` "); ok {
			return m, t
		}
	}
	if f.NoOptDefVal != "" {
		return "", f.Usage
	}
	return "VALUE", f.Usage
}
