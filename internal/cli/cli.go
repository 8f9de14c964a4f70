package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime/debug"
	"strings"

	"github.com/pgrunbook/pgrunbook/engine"
	"github.com/pgrunbook/pgrunbook/internal/position"
)

// Version is pgrunbook's version, set at build time with
// -ldflags "-X github.com/pgrunbook/pgrunbook/internal/cli.Version=v1.2.3".
var Version = ""

// version returns Version, or the module version from the build info.
func version() string {
	if Version != "" {
		return Version
	}
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		return bi.Main.Version
	}
	return "dev"
}

// IO is where a command reads and writes. In and Out may be terminals.
type IO struct {
	In  *os.File
	Out io.Writer
	Err io.Writer
	// OutFile is Out when it is a file (for terminal detection).
	OutFile *os.File
}

// exitError ends a command with a specific exit code and message.
type exitError struct {
	code int
	msg  string
}

func (e *exitError) Error() string { return e.msg }

func usageErrorf(format string, args ...any) error {
	return &exitError{code: engine.ExitUsage, msg: fmt.Sprintf(format, args...)}
}

func failf(format string, args ...any) error {
	return &exitError{code: engine.ExitFailed, msg: fmt.Sprintf(format, args...)}
}

// silentExit carries an exit code whose explanation is already printed.
type silentExit struct{ code int }

func (e *silentExit) Error() string { return fmt.Sprintf("exit %d", e.code) }

// Main runs the command line args (without the program name) and returns
// the process exit code.
func Main(ctx context.Context, args []string, stdio IO) int {
	err := dispatch(ctx, args, stdio)
	return exitCode(err, stdio.Err)
}

// exitCode prints err (if it has something to say) and returns its code.
func exitCode(err error, stderr io.Writer) int {
	if err == nil {
		return 0
	}
	var silent *silentExit
	if errors.As(err, &silent) {
		return silent.code
	}
	var list position.List
	if errors.As(err, &list) {
		fmt.Fprintln(stderr, list.Detailed())
		fmt.Fprintf(stderr, "%d problem(s): the playbook was not run\n", len(list))
		return engine.ExitUsage
	}
	var ee *exitError
	if errors.As(err, &ee) {
		fmt.Fprintln(stderr, "pgrunbook: "+ee.msg)
		return ee.code
	}
	fmt.Fprintln(stderr, "pgrunbook: "+err.Error())
	return engine.ExitFailed
}

type command struct {
	name    string
	summary string
	usage   string
	run     func(ctx context.Context, args []string, stdio IO) error
}

// registered holds commands that live in files of their own and add
// themselves with register from an init function.
var registered []command

// register adds a command to the command line; call it from init.
func register(c command) { registered = append(registered, c) }

func commands() []command {
	return append([]command{
		{"run", "run a playbook against a server", runUsage, runCommand},
		{"rehearse", "stage an incident on a throwaway PostgreSQL, run playbooks, score them", rehearseUsage, rehearseCommand},
		{"replay", "show a recorded run as the operator saw it", replayUsage, replayCommand},
		{"validate", "check playbook files and report every problem", validateUsage, validateCommand},
		{"list", "list the built-in playbooks", listUsage, listCommand},
		{"explain", "show a playbook's parameters and steps as a checklist", explainUsage, explainCommand},
		{"version", "print pgrunbook's version", versionUsage, versionCommand},
	}, registered...)
}

func dispatch(ctx context.Context, args []string, stdio IO) error {
	if len(args) == 0 {
		fmt.Fprint(stdio.Err, mainUsage())
		return &silentExit{code: engine.ExitUsage}
	}
	name := args[0]
	switch name {
	case "-h", "--help", "help":
		if len(args) > 1 && name == "help" {
			for _, c := range commands() {
				if c.name == args[1] {
					fmt.Fprint(stdio.Out, c.usage)
					return nil
				}
			}
		}
		fmt.Fprint(stdio.Out, mainUsage())
		return nil
	case "-v", "--version":
		name = "version"
	}
	for _, c := range commands() {
		if c.name == name {
			return c.run(ctx, args[1:], stdio)
		}
	}
	return usageErrorf("unknown command %q%s: run pgrunbook --help for the list", name, suggestCommand(name))
}

func suggestCommand(name string) string {
	for _, c := range commands() {
		if strings.HasPrefix(c.name, name) || strings.HasPrefix(name, c.name) {
			return fmt.Sprintf(" (did you mean %q?)", c.name)
		}
	}
	return ""
}

func mainUsage() string {
	var b strings.Builder
	b.WriteString(`pgrunbook runs incident runbooks for PostgreSQL: find the sessions that hurt,
show them, confirm, cancel gently, verify, and terminate only what ignored the
cancel. Every run leaves a transcript that can be replayed.

Usage:
  pgrunbook COMMAND [ARGUMENTS] [FLAGS]

Commands:
`)
	for _, c := range commands() {
		fmt.Fprintf(&b, "  %-9s %s\n", c.name, c.summary)
	}
	b.WriteString(`
Run "pgrunbook COMMAND --help" for a command's flags.

Examples:
  pgrunbook list
  pgrunbook explain cancel-long-queries
  pgrunbook run cancel-long-queries --dry-run -d "host=db1 user=postgres"
  pgrunbook run cancel-long-queries --set min_runtime=2m
  pgrunbook replay ~/.local/state/pgrunbook/transcripts/20261125T030102Z-cancel-long-queries.jsonl

Exit codes: 0 done and verified, or a dry run that finished; 1 done but
something failed (a session
survived, a signal was denied, a database error); 2 bad usage or invalid
playbook; 3 aborted by the operator; 130 interrupted.
`)
	return b.String()
}
