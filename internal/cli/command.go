package cli

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/spf13/pflag"
)

// runFunc runs a command with its positional arguments, its flags already
// parsed into the variables its setup bound them to.
type runFunc func(ctx context.Context, args []string, stdio IO) error

// command is one entry of the command table. Its flags are defined once,
// by setup, which binds them to fresh variables and returns the function
// that runs the command with them; help and the completion scripts call
// setup on a flag set of their own and never run it.
type command struct {
	name    string
	summary string
	// usage is what follows "pgrunbook NAME" on the usage line(s); more
	// than one form is separated by newlines.
	usage string
	// about describes the command, between the usage line and the flags.
	about string
	// flagsWhere says where the flags may go, e.g. "before or after
	// PLAYBOOK"; "" for none.
	flagsWhere string
	// notes follow the flags: conditions and the exit codes.
	notes string
	// args is what the positional arguments are, for completion.
	args  argKind
	setup func(fs *pflag.FlagSet) runFunc
}

// argKind is what a command's positional arguments (or a flag's value)
// are, as the completion scripts complete them.
type argKind int

const (
	argNone      argKind = iota
	argPlaybook          // a built-in playbook name or a file
	argScenario          // a rehearse scenario
	argFile              // a file
	argDir               // a directory
	argFormat            // text or json
	argFileOrDir         // a file or a directory
	argShell             // bash, zsh or fish
	argCommand           // a pgrunbook command
)

// commandTable is the command line: every command, in the order of the
// main help. It is the only place a command is registered.
func commandTable() []*command {
	return []*command{
		runCmd(),
		rehearseCmd(),
		replayCmd(),
		validateCmd(),
		listCmd(),
		explainCmd(),
		versionCmd(),
		reportCmd(),
		schemaCmd(),
		testCmd(),
		resumeCmd(),
		watchCmd(),
		completionCmd(),
	}
}

// lookupCommand finds a command of the table by name.
func lookupCommand(name string) *command {
	for _, c := range commandTable() {
		if c.name == name {
			return c
		}
	}
	return nil
}

// invoke parses args with the command's flags and runs it.
func (c *command) invoke(ctx context.Context, args []string, stdio IO) error {
	fs := newFlagSet(c.name)
	run := c.setup(fs)
	pos, err := parseFlags(c, fs, args, stdio)
	if err != nil {
		return err
	}
	return run(ctx, pos, stdio)
}

// flagSet is the command's flags, defined for help and completion.
func (c *command) flagSet() *pflag.FlagSet {
	fs := newFlagSet(c.name)
	c.setup(fs)
	return fs
}

// help is the command's --help, generated from its definition: usage
// lines, description, every flag with its help and default, and notes.
func (c *command) help() string {
	var b strings.Builder
	for i, u := range strings.Split(c.usage, "\n") {
		prefix := "Usage: "
		if i > 0 {
			prefix = "       "
		}
		fmt.Fprintf(&b, "%spgrunbook %s\n", prefix, strings.TrimRight(c.name+" "+u, " "))
	}
	if c.about != "" {
		b.WriteString("\n" + strings.TrimRight(c.about, "\n") + "\n")
	}
	fs := c.flagSet()
	if fs.HasFlags() {
		heading := "Flags"
		if c.flagsWhere != "" {
			heading += " (" + c.flagsWhere + ")"
		}
		b.WriteString("\n" + heading + ":\n")
		b.WriteString(flagHelp(fs))
	}
	if c.notes != "" {
		b.WriteString("\n" + strings.TrimRight(c.notes, "\n") + "\n")
	}
	return b.String()
}

// Layout of the flag help: names in a column, text wrapped beside them.
const (
	helpWidth      = 80
	helpTextColumn = 26
)

// flagHelp lists the flags of fs in definition order, each with its
// placeholder, help text and, when it is not the zero value, its default.
func flagHelp(fs *pflag.FlagSet) string {
	var b strings.Builder
	fs.VisitAll(func(f *pflag.Flag) {
		if f.Hidden {
			return
		}
		meta, text := placeholder(f)
		names := "     "
		if f.Shorthand != "" {
			names = "  -" + f.Shorthand + ","
		}
		names += " --" + f.Name
		if meta != "" {
			names += " " + meta
		}
		// A help text that says its default in words keeps it that way.
		if def := shownDefault(f); def != "" && !strings.Contains(text, "(default:") {
			text += " (default " + def + ")"
		}
		lines := wrap(text, helpWidth-helpTextColumn)
		if len(names) < helpTextColumn-1 {
			fmt.Fprintf(&b, "%-*s%s\n", helpTextColumn, names, lines[0])
			lines = lines[1:]
		} else {
			b.WriteString(names + "\n")
		}
		for _, l := range lines {
			fmt.Fprintf(&b, "%*s%s\n", helpTextColumn, "", l)
		}
	})
	return b.String()
}

// shownDefault is the default the help shows for a flag: "" for a zero
// value (no text, false, 0, nothing repeated), durations without their
// trailing zero units (1h, not 1h0m0s).
func shownDefault(f *pflag.Flag) string {
	switch f.DefValue {
	case "", "false", "0", "[]":
		return ""
	}
	if f.Value.Type() == "duration" {
		if d, err := time.ParseDuration(f.DefValue); err == nil {
			return shortDuration(d)
		}
	}
	return f.DefValue
}

// shortDuration formats d as time.Duration does, without zero minutes
// or seconds after a larger unit.
func shortDuration(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

// wrap breaks text into lines of at most width columns at spaces.
func wrap(text string, width int) []string {
	var lines []string
	line := ""
	for _, w := range strings.Fields(text) {
		switch {
		case line == "":
			line = w
		case len(line)+1+len(w) > width:
			lines = append(lines, line)
			line = w
		default:
			line += " " + w
		}
	}
	return append(lines, line)
}
