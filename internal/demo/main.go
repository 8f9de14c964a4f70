package main

import (
	"context"
	"os"

	"github.com/pgrunbook/pgrunbook/internal/cli"
)

// demoArgs is the command the demo runs; its own arguments are appended.
var demoArgs = []string{"rehearse", "mixed", "--yes"}

func main() {
	os.Exit(run())
}

// run wires the process to the command line as cmd/pgrunbook does
// (cli.SignalContext): the first SIGINT, SIGTERM or SIGHUP cancels the
// rehearsal's context, with the signal as its cause, so that it tears
// everything down; a second SIGINT or SIGTERM kills the process at once.
func run() int {
	ctx, stop := cli.SignalContext(context.Background())
	defer stop()
	args := append(append([]string{}, demoArgs...), os.Args[1:]...)
	return cli.Main(ctx, args, cli.IO{In: os.Stdin, Out: os.Stdout, Err: os.Stderr, OutFile: os.Stdout})
}
