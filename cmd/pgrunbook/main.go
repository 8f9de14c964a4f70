// Command pgrunbook runs PostgreSQL incident runbooks written as YAML
// playbooks. See `pgrunbook --help`.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/pgrunbook/pgrunbook/internal/cli"
)

func main() {
	os.Exit(run())
}

// run wires the process to the command line: the first SIGINT or SIGTERM
// cancels the run's context so it can end cleanly and close its
// transcript; a second one kills the process at once.
func run() int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	go func() {
		<-ctx.Done()
		stop() // restore default handling: a second signal ends the process
	}()
	defer stop()
	return cli.Main(ctx, os.Args[1:], cli.IO{In: os.Stdin, Out: os.Stdout, Err: os.Stderr, OutFile: os.Stdout})
}
