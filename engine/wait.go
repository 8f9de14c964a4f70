package engine

import (
	"context"
	"fmt"
	"time"

	"github.com/pgrunbook/pgrunbook/internal/activity"
	"github.com/pgrunbook/pgrunbook/internal/playbook"
	"github.com/pgrunbook/pgrunbook/internal/transcript"
)

// wait pauses for a fixed time, or polls fresh snapshots until a condition
// holds or the timeout ends. A dry run does not pause: it evaluates the
// condition once and records what it would wait for.
func (r *runner) wait(ctx context.Context, st *playbook.Step) error {
	w := st.Wait
	ev := r.stepEvent(st, transcript.Waited)
	if w.Until == nil {
		if r.unchanging {
			ev.Text = fmt.Sprintf("dry run: would wait %s", w.For)
			return r.emit(ev)
		}
		start := r.clock.Now()
		if err := r.pause(ctx, w.For); err != nil {
			return err
		}
		ev.Elapsed = r.clock.Now().Sub(start)
		ev.Text = fmt.Sprintf("waited %s", w.For)
		return r.emit(ev)
	}
	res, err := r.pollUntil(ctx, w.Timeout, func(snap *activity.Snapshot) (bool, error) {
		ok, err := r.scope.Rows(w.Until, snap.Rows)
		if err != nil {
			return false, fmt.Errorf("step %d (wait): %w", st.Index+1, err)
		}
		return ok, nil
	})
	if err != nil {
		return err
	}
	ev.Polls = res.polls
	switch {
	case res.held:
		ev.Elapsed = res.elapsed
		ev.Text = fmt.Sprintf("condition held after %s", ev.Elapsed.Round(time.Millisecond))
	case res.timedOut:
		ev.Elapsed, ev.TimedOut = res.elapsed, true
		ev.Text = fmt.Sprintf("condition still false after %s; going on", w.Timeout)
	default:
		ev.Text = fmt.Sprintf("dry run: condition does not hold now; a real run would wait up to %s", w.Timeout)
	}
	return r.emit(ev)
}
