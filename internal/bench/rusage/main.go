// Command rusage runs a command and reports how long it ran, its peak
// resident set size and its CPU time, for the pgrunbook bench.
//
//	rusage PROGRAM [ARGUMENT]...
//
// The report is one line on file descriptor 3: start time (Unix
// nanoseconds, just before the command was started), wall nanoseconds, peak RSS
// in KiB (wait4's ru_maxrss), CPU nanoseconds (user plus system) and exit
// code. Standard input, output and error are the command's; rusage exits
// with the command's exit code.
//
// Why a separate process: Go starts children with clone(CLONE_VM|
// CLONE_VFORK), so until exec the child shares its parent's memory, and
// Linux folds the high-water RSS of that shared memory into the child's
// ru_maxrss at exec. A child of a big parent (the bench holds thousands of
// connections) would report the parent's peak, not its own. Started from
// this small program, the floor is this program's few MiB, which the bench
// measures and prints next to the results.
package main

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"syscall"
	"time"
)

func main() {
	// The child's parent-death signal belongs to the thread that started
	// it; keep that thread for the child's whole life.
	runtime.LockOSThread()
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: rusage PROGRAM [ARGUMENT]...  (report on fd 3)")
		os.Exit(2)
	}
	report := os.NewFile(3, "report")
	cmd := exec.Command(os.Args[1], os.Args[2:]...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	// If the bench kills rusage, the command goes too.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	start := time.Now()
	err := cmd.Run()
	wall := time.Since(start)
	var exitErr *exec.ExitError
	if err != nil && !errors.As(err, &exitErr) {
		fmt.Fprintf(os.Stderr, "rusage: %v\n", err)
		os.Exit(127)
	}
	ru, _ := cmd.ProcessState.SysUsage().(*syscall.Rusage)
	var maxRSS, cpu int64
	if ru != nil {
		maxRSS = ru.Maxrss
		cpu = ru.Utime.Nano() + ru.Stime.Nano()
	}
	code := cmd.ProcessState.ExitCode()
	if report != nil {
		fmt.Fprintf(report, "%d %d %d %d %d\n", start.UnixNano(), wall.Nanoseconds(), maxRSS, cpu, code)
	}
	if code < 0 {
		code = 128 + 9
	}
	os.Exit(code)
}
