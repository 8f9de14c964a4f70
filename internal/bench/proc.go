package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// goBuild builds a command of the module into dir and returns its path.
// It runs in the current directory, which must be inside the module (make
// bench runs from its root).
func goBuild(ctx context.Context, dir, name, pkg string) (string, error) {
	bin := filepath.Join(dir, name)
	cmd := exec.CommandContext(ctx, "go", "build", "-o", bin, pkg)
	// As make build builds it: static, without cgo.
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("go build %s: %w\n%s", pkg, err, out.String())
	}
	return bin, nil
}

// child is one finished child process.
type child struct {
	// Start is when the process was started (set by measured only).
	Start time.Time
	Wall  time.Duration
	// MaxRSS is the peak resident set size in KiB (wait4 rusage).
	MaxRSS int64
	// CPU is user plus system time.
	CPU      time.Duration
	ExitCode int
	Output   string
}

// runChild runs cmd to completion with its output captured and reports its
// wall time from just before start to just after wait and its CPU time. A
// non-zero exit is not an error; failing to start is. Its MaxRSS is not
// the child's own (see the rusage command): use measured for that.
func runChild(cmd *exec.Cmd) (child, error) {
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	start := time.Now()
	if err := cmd.Start(); err != nil {
		return child{}, err
	}
	err := cmd.Wait()
	c := child{Wall: time.Since(start), Output: out.String()}
	if cmd.ProcessState == nil {
		return c, err
	}
	c.ExitCode = cmd.ProcessState.ExitCode()
	if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
		c.MaxRSS = ru.Maxrss // KiB on Linux
		c.CPU = time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	}
	return c, nil
}

// toolEnv is the environment for pgrunbook children: ours without libpq
// variables, so only the DSN given on the command line counts.
func toolEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "PG") {
			env = append(env, kv)
		}
	}
	return env
}

// tools are the binaries the bench runs and measures.
type tools struct {
	// Pgrunbook is the binary under test.
	Pgrunbook string
	// Rusage starts a command and reports its own wait4 rusage.
	Rusage string
	// Floor is the floor command (internal/bench/floor): the end-to-end
	// cancel with the safety rules and without the engine.
	Floor string
}

// pgrunbook runs the binary under test with args; see measured.
func (t tools) pgrunbook(ctx context.Context, args ...string) (child, error) {
	return t.measured(ctx, t.Pgrunbook, args...)
}

// measured runs a program through the rusage command, so that its peak
// RSS is its own and not the bench's, and returns the report: wall time
// from the program's start to its exit, peak RSS, CPU time, exit code and
// output. A non-zero exit is not an error.
func (t tools) measured(ctx context.Context, program string, args ...string) (child, error) {
	pr, pw, err := os.Pipe()
	if err != nil {
		return child{}, err
	}
	defer pr.Close()
	cmd := exec.CommandContext(ctx, t.Rusage, append([]string{program}, args...)...)
	cmd.Env = toolEnv()
	cmd.ExtraFiles = []*os.File{pw}
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err = cmd.Start()
	pw.Close()
	if err != nil {
		return child{}, err
	}
	werr := cmd.Wait()
	report, _ := io.ReadAll(pr)
	var start, wall, cpu int64
	c := child{Output: out.String()}
	if _, err := fmt.Sscan(string(report), &start, &wall, &c.MaxRSS, &cpu, &c.ExitCode); err != nil {
		return c, fmt.Errorf("running %s: %v: %s", program, werr, lastLines(c.Output, 10))
	}
	c.Start, c.Wall, c.CPU = time.Unix(0, start), time.Duration(wall), time.Duration(cpu)
	return c, nil
}
