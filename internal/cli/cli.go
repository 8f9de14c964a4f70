package cli

import (
	"context"
	"fmt"
	"io"
	"os"
	"runtime/debug"
	"strings"
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

// Main runs the command line args (without the program name) and returns
// the process exit code.
func Main(ctx context.Context, args []string, stdio IO) int {
	err := dispatch(ctx, args, stdio)
	return exitCode(err, stdio.Err)
}

// Process is the pgrunbook program: Main on the process's arguments and
// standard streams, under SignalContext (the first SIGINT, SIGTERM or SIGHUP
// cancels the run's context with the signal as its cause, so that the
// run ends cleanly, closes its transcript and says which signal ended it;
// a second SIGINT or SIGTERM kills the process at once, later SIGHUPs are
// ignored). cmd/pgrunbook and the tests'
// copy of the program call it. It paces the garbage collector for the
// command first (tuneGC).
func Process() int {
	tuneGC(os.Args[1:])
	ctx, stop := SignalContext(context.Background())
	defer stop()
	return Main(ctx, os.Args[1:], IO{In: os.Stdin, Out: os.Stdout, Err: os.Stderr, OutFile: os.Stdout})
}

func dispatch(ctx context.Context, args []string, stdio IO) error {
	if len(args) == 0 {
		fmt.Fprint(stdio.Err, mainUsage())
		return &silentExit{code: ExitUsage}
	}
	name := args[0]
	switch name {
	case "-h", "--help", "help":
		if len(args) > 1 && name == "help" {
			if c := lookupCommand(args[1]); c != nil {
				fmt.Fprint(stdio.Out, c.help())
				return nil
			}
		}
		fmt.Fprint(stdio.Out, mainUsage())
		return nil
	case "-v", "--version":
		name = "version"
	}
	if c := lookupCommand(name); c != nil {
		return c.invoke(ctx, args[1:], stdio)
	}
	return usageErrorf("unknown command %q%s: run pgrunbook --help for the list", name, suggestCommand(name))
}

func suggestCommand(name string) string {
	for _, c := range commandTable() {
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
	for _, c := range commandTable() {
		fmt.Fprintf(&b, "  %-11s %s\n", c.name, c.summary)
	}
	b.WriteString(`
Run "pgrunbook COMMAND --help" for a command's flags.

Examples:
  pgrunbook list
  pgrunbook explain cancel-long-queries
  pgrunbook run cancel-long-queries --dry-run -d "host=db1 user=postgres"
  pgrunbook run cancel-long-queries --set min_runtime=2m
  pgrunbook replay ~/.local/state/pgrunbook/transcripts/20261125T030102Z-cancel-long-queries-4242.jsonl

Exit codes: 0 done and verified, or a dry run that finished; 1 done but
something failed (a session survived, a signal was denied, a database
error); 2 bad usage or invalid playbook; 3 aborted by the operator; 130
interrupted.
`)
	return b.String()
}
