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
