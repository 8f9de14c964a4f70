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

// snapshot reads pg_stat_activity (one statement) and remembers it as the
// latest view. A lost connection is restored (see reconnect) and the read
// retried: reading is always safe to repeat.
func (r *runner) snapshot(ctx context.Context) (*activity.Snapshot, error) {
	for attempt := 1; ; attempt++ {
		snap, err := r.opts.DB.Snapshot(ctx)
		if err == nil {
			r.latest, r.taken = snap, snap.Taken
			r.scope.SetServer(snap.Server)
			return snap, nil
		}
		if !connectionLost(err) || attempt == 3 {
			return nil, err
		}
		if err := r.reconnect(ctx, err); err != nil {
			return nil, err
		}
	}
}

// poll is the snapshot a verify or wait poll checks. A dry run signalled
// nothing, so its one check uses the latest snapshot instead of asking
// the server again; a real run always reads afresh.
func (r *runner) poll(ctx context.Context) (*activity.Snapshot, error) {
	if r.opts.Mode == DryRun && r.latest != nil {
		return r.latest, nil
	}
	return r.snapshot(ctx)
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
	rc, ok := r.opts.DB.(Reconnecter)
	lostMsg := fmt.Sprintf("%v", cause)
	if !ok {
		return &stopError{Result{Outcome: OutcomeConnectionLost, ExitCode: ExitFailed, Message: lostMsg}}
	}
	w := transcript.Event{Type: transcript.Warning, Text: fmt.Sprintf("%s; reconnecting for up to %s", lostMsg, r.opts.ReconnectFor)}
	if err := r.emit(w); err != nil {
		return err
	}
	start := time.Now()
	pause := 100 * time.Millisecond
	var last error
	for tries := 1; ; tries++ {
		attempt, cancel := context.WithDeadline(ctx, start.Add(r.opts.ReconnectFor))
		last = rc.Reconnect(attempt)
		cancel()
		if last == nil {
			n := transcript.Event{Type: transcript.Note, Text: fmt.Sprintf("reconnected after %s (%d attempt(s)); going on", time.Since(start).Round(time.Millisecond), tries)}
			return r.emit(n)
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if time.Since(start)+pause > r.opts.ReconnectFor {
			break
		}
		if err := sleep(ctx, pause); err != nil {
			return err
		}
		pause = min(pause*2, 2*time.Second)
	}
	return &stopError{Result{Outcome: OutcomeConnectionLost, ExitCode: ExitFailed,
		Message: fmt.Sprintf("%s, and the server did not come back within %s: %v", lostMsg, r.opts.ReconnectFor, last)}}
}
