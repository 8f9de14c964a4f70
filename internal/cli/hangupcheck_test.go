//go:build unix

package cli_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"syscall"

	"github.com/pgrunbook/pgrunbook/internal/cli"
)

// hangupcheck is TestLaterHangupsAreCaughtNotIgnored's program.
func init() { programs["hangupcheck"] = func() { os.Exit(hangupCheck()) } }

// hangupCheck hangs itself up twice under SignalContext, then prints the
// status of a program it starts: what a --notify command started after a
// hangup inherits.
func hangupCheck() int {
	ctx, stop := cli.SignalContext(context.Background())
	defer stop()
	if err := syscall.Kill(os.Getpid(), syscall.SIGHUP); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	<-ctx.Done()
	fmt.Println("cause:", context.Cause(ctx))
	// The second hangup of the same terminal must not end the process.
	if err := syscall.Kill(os.Getpid(), syscall.SIGHUP); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	out, err := exec.Command("sh", "-c", "cat /proc/self/status").Output()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	fmt.Print(string(out))
	return 0
}
