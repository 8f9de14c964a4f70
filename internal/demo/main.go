package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/pgrunbook/pgrunbook/internal/cli"
)

// demoArgs is the command the demo runs; its own arguments are appended.
var demoArgs = []string{"rehearse", "mixed", "--yes"}

func main() {
	os.Exit(run())
}

// run wires the process to the command line as cmd/pgrunbook does: the
// first SIGINT or SIGTERM cancels the rehearsal's context so that it
// tears everything down; a second one kills the process at once.
func run() int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	go func() {
		<-ctx.Done()
		stop()
	}()
	defer stop()
	args := append(append([]string{}, demoArgs...), os.Args[1:]...)
	return cli.Main(ctx, args, cli.IO{In: os.Stdin, Out: os.Stdout, Err: os.Stderr, OutFile: os.Stdout})
}
