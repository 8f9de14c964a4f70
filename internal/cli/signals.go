package cli

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"sync"
	"syscall"

	"github.com/pgrunbook/pgrunbook/engine"
)

// errSIGINT is the cause of a context cancelled by SIGINT: Ctrl-C at the
// terminal, or kill -INT.
var errSIGINT = fmt.Errorf("%w (SIGINT)", engine.ErrInterrupted)

// SignalContext returns a context that the first SIGINT, SIGTERM or
// SIGHUP cancels, so that a run can end cleanly and close its transcript.
// The signal is the context's cause (context.Cause): engine.ErrTerminated
// for SIGTERM, engine.ErrHangup for SIGHUP (the operator's terminal went
// away), an error wrapping engine.ErrInterrupted for SIGINT, so that the
// run's last event says which one ended it. After the first signal the
// default handling of SIGINT and SIGTERM is back: a second one ends the
// process at once. Later SIGHUPs are caught and dropped until stop: a
// terminal that hangs up often sends it more than once (the shell passes
// it on, the session leader exits), and nobody is there to mean "now" by
// it; the run must still write its last event. They are caught, not
// ignored, because an ignored signal stays ignored in every program
// started from then on (a --notify command), while a caught one is back
// to its default there. stop releases the signals and the context.
func SignalContext(parent context.Context) (ctx context.Context, stop func()) {
	ctx, cancel := context.WithCancelCause(parent)
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM, syscall.SIGHUP)
	// hups takes the SIGHUPs after the first signal.
	hups := make(chan os.Signal, 1)
	done := make(chan struct{})
	go func() {
		select {
		case s := <-sigs:
			// Catch SIGHUP on hups before letting go of sigs: between
			// the two calls a second SIGHUP of the same hangup would
			// otherwise meet the default action and kill the process
			// before it writes its last event.
			signal.Notify(hups, syscall.SIGHUP)
			signal.Stop(sigs)
			cancel(signalCause(s))
			for {
				select {
				case <-hups:
				case <-done:
					return
				}
			}
		case <-done:
		}
	}()
	var once sync.Once
	return ctx, func() {
		once.Do(func() {
			signal.Stop(sigs)
			signal.Stop(hups)
			close(done)
			cancel(context.Canceled)
		})
	}
}

// signalCause is the cause a signal cancels the run's context with.
func signalCause(s os.Signal) error {
	switch s {
	case syscall.SIGTERM:
		return engine.ErrTerminated
	case syscall.SIGHUP:
		return engine.ErrHangup
	}
	return errSIGINT
}
