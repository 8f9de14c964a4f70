package cli

import (
	"errors"
	"fmt"
	"io"

	"github.com/pgrunbook/pgrunbook/engine"
	"github.com/pgrunbook/pgrunbook/internal/position"
)

// Exit codes of the pgrunbook command, as the README and every command's
// help document them. The engine records the same values in run_finished
// (engine.Result.ExitCode); TestExitCodesMatchTheEngine keeps them equal.
const (
	ExitOK          = 0
	ExitFailed      = 1
	ExitUsage       = 2
	ExitAborted     = 3
	ExitInterrupted = 130
)

// coder is an error that decides the exit code.
type coder interface {
	error
	Code() int
}

// exitError ends a command with a specific exit code and message.
type exitError struct {
	code int
	msg  string
}

func (e *exitError) Error() string { return e.msg }

// Code is the exit code the error ends the command with.
func (e *exitError) Code() int { return e.code }

func usageErrorf(format string, args ...any) error {
	return &exitError{code: ExitUsage, msg: fmt.Sprintf(format, args...)}
}

func failf(format string, args ...any) error {
	return &exitError{code: ExitFailed, msg: fmt.Sprintf(format, args...)}
}

// silentExit carries an exit code whose explanation is already printed.
type silentExit struct{ code int }

func (e *silentExit) Error() string { return fmt.Sprintf("exit %d", e.code) }

// Code is the exit code.
func (e *silentExit) Code() int { return e.code }

// runEnded is a run the engine finished in an outcome other than done:
// the engine has shown and recorded how it ended, so nothing more is
// printed.
type runEnded struct{ res engine.Result }

func (e *runEnded) Error() string { return fmt.Sprintf("run %s: %s", e.res.Outcome, e.res.Message) }

// Code is the exit code of the outcome, as run_finished records it.
func (e *runEnded) Code() int { return e.res.ExitCode }

// resultError is nil for a run that ended with exit code 0, else the
// error that ends the command with the run's exit code.
func resultError(res engine.Result) error {
	if res.ExitCode == ExitOK {
		return nil
	}
	return &runEnded{res: res}
}

// exitCode prints err (if it has something to say) and returns its code.
func exitCode(err error, stderr io.Writer) int {
	if err == nil {
		return ExitOK
	}
	var list position.List
	if errors.As(err, &list) {
		fmt.Fprintln(stderr, list.Detailed())
		fmt.Fprintf(stderr, "%d problem(s): the playbook was not run\n", len(list))
		return ExitUsage
	}
	var silent *silentExit
	var ended *runEnded
	var c coder
	switch {
	case errors.As(err, &silent):
		return silent.code
	case errors.As(err, &ended):
		return ended.Code()
	case errors.As(err, &c):
		fmt.Fprintln(stderr, "pgrunbook: "+c.Error())
		return c.Code()
	}
	fmt.Fprintln(stderr, "pgrunbook: "+err.Error())
	return ExitFailed
}
