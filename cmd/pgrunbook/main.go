// Command pgrunbook runs PostgreSQL incident runbooks written as YAML
// playbooks. See `pgrunbook --help`.
package main

import (
	"context"
	"os"

	"github.com/pgrunbook/pgrunbook/internal/cli"
)

func main() {
	os.Exit(run())
}

// run wires the process to the command line: the first SIGINT or SIGTERM
// cancels the run's context, with the signal as its cause, so the run can
// end cleanly, close its transcript and say which signal ended it; a
// second one kills the process at once (see cli.SignalContext).
func run() int {
	ctx, stop := cli.SignalContext(context.Background())
	defer stop()
	return cli.Main(ctx, os.Args[1:], cli.IO{In: os.Stdin, Out: os.Stdout, Err: os.Stderr, OutFile: os.Stdout})
}
