package engine

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/pgrunbook/pgrunbook/internal/activity"
	"github.com/pgrunbook/pgrunbook/internal/transcript"
)

// OutcomeConnectionLost ends a run whose connection could not be restored.
const OutcomeConnectionLost = transcript.RunConnectionLost

// DefaultReconnectFor is the default Options.ReconnectFor.
const DefaultReconnectFor = 30 * time.Second

// Reconnecter is a Database that can replace a lost connection.
type Reconnecter interface {
	Reconnect(ctx context.Context) error
}

// connectionLost reports whether err says the connection is gone (the
// pg package marks such errors with a ConnectionLost method).
func connectionLost(err error) bool {
	var cl interface{ ConnectionLost() bool }
	return errors.As(err, &cl) && cl.ConnectionLost()
}

// notSent reports whether err says the statement never left pgrunbook
// (a NotSent method returning true, as internal/pg's ConnectionLostError
// has): the connection was known to be dead before it.
func notSent(err error) bool {
	var ns interface{ NotSent() bool }
	return errors.As(err, &ns) && ns.NotSent()
}

// snapshot reads pg_stat_activity (one statement) and remembers it as the
// latest view. A lost connection is restored (see reconnect) and the read
// retried: reading is always safe to repeat.
func (r *runner) snapshot(ctx context.Context) (*activity.Snapshot, error) {
	snap, err := readAgain(ctx, r, r.db.Snapshot)
	if err != nil {
		return nil, err
	}
	r.latest, r.taken = snap, snap.Taken
	r.scope.SetServer(snap.Server)
	return snap, nil
}

// readAgain runs read and, when it failed because the connection was
// lost, restores the connection (see reconnect) and reads again, three
// times at most: reading is always safe to repeat.
func readAgain[T any](ctx context.Context, r *runner, read func(context.Context) (T, error)) (T, error) {
	for attempt := 1; ; attempt++ {
		v, err := read(ctx)
		if err == nil || !connectionLost(err) || attempt == 3 {
			return v, err
		}
		if err := r.reconnect(ctx, err); err != nil {
			var none T
			return none, err
		}
	}
}

// reconnect restores a lost connection with bounded, growing pauses
// (100ms doubling to 2s) for at most ReconnectFor, each attempt bounded
// by what is left of it, recording the loss and the recovery in the
// transcript. If the server does not come back, the run ends with outcome
// connection_lost. A run whose context ended is not reconnected: its
// statement failed because the run was interrupted.
func (r *runner) reconnect(ctx context.Context, cause error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	lostMsg := fmt.Sprintf("%v", cause)
	if r.reconnecter == nil {
		return &stopError{Result{Outcome: OutcomeConnectionLost, ExitCode: ExitFailed, Message: lostMsg}}
	}
	w := transcript.Event{Type: transcript.Warning, Text: fmt.Sprintf("%s; reconnecting for up to %s", lostMsg, r.opts.ReconnectFor)}
	if err := r.emit(w); err != nil {
		return err
	}
	p := newPacer(r.clock, reconnectSchedule, r.opts.ReconnectFor)
	var last error
	for tries := 1; ; tries++ {
		attempt, cancel := context.WithTimeout(ctx, p.left())
		last = r.reconnecter.Reconnect(attempt)
		cancel()
		if last == nil {
			n := transcript.Event{Type: transcript.Note, Text: fmt.Sprintf("reconnected after %s (%d attempt(s)); going on", p.elapsed().Round(time.Millisecond), tries)}
			return r.emit(n)
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		more, err := p.wait(ctx)
		if err != nil {
			return err
		}
		if !more {
			break
		}
	}
	return &stopError{Result{Outcome: OutcomeConnectionLost, ExitCode: ExitFailed,
		Message: fmt.Sprintf("%s, and the server did not come back within %s: %v", lostMsg, r.opts.ReconnectFor, last)}}
}
