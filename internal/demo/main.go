package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"golang.org/x/term"
)

// Exit codes of the demo, in line with pgrunbook's own.
const (
	exitResolved    = 0
	exitFailed      = 1
	exitInterrupted = 130
)

func main() {
	os.Exit(mainCode())
}

// mainCode runs the demo with Ctrl-C (and SIGTERM) wired to a clean
// teardown, and returns the process exit code. It is separate from main
// so that deferred calls run before os.Exit.
func mainCode() int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	cfg := config{Width: terminalWidth(os.Stdout)}
	_, err := run(ctx, os.Stdout, cfg)
	switch {
	case err == nil:
		return exitResolved
	case errors.Is(err, context.Canceled) && ctx.Err() != nil:
		fmt.Fprintln(os.Stderr, "demo: interrupted; the sandbox was stopped and removed")
		return exitInterrupted
	case errors.Is(err, errNotResolved):
		// The scorecard already said what failed.
		return exitFailed
	default:
		fmt.Fprintf(os.Stderr, "demo: %v\n", err)
		return exitFailed
	}
}

// terminalWidth is the width of f when it is a terminal, else 120 columns
// (the width pgrunbook run uses when not on a terminal).
func terminalWidth(f *os.File) int {
	if w, _, err := term.GetSize(int(f.Fd())); err == nil && w > 0 {
		return w
	}
	return 120
}
