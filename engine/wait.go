package engine

import (
	"context"
	"fmt"
	"time"

	"github.com/pgrunbook/pgrunbook/internal/playbook"
	"github.com/pgrunbook/pgrunbook/internal/transcript"
)

// wait pauses for a fixed time, or polls fresh snapshots until a condition
// holds or the timeout ends. A dry run does not pause: it evaluates the
// condition once and records what it would wait for.
func (r *runner) wait(ctx context.Context, st *playbook.Step) error {
	w := st.Wait
	ev := r.stepEvent(st, transcript.Waited)
	start := time.Now()
	if w.Until == nil {
		if r.opts.Mode == DryRun {
			ev.Text = fmt.Sprintf("dry run: would wait %s", w.For)
			return r.emit(ev)
		}
		if err := r.pause(ctx, w.For); err != nil {
			return err
		}
		ev.Elapsed = time.Since(start)
		ev.Text = fmt.Sprintf("waited %s", w.For)
		return r.emit(ev)
	}
	interval := r.opts.PollInterval
	deadline := start.Add(w.Timeout)
	for {
		snap, err := r.poll(ctx)
		if err != nil {
			return err
		}
		ev.Polls++
		ok, err := r.scope.Rows(w.Until, snap.Rows)
		if err != nil {
			return fmt.Errorf("step %d (wait): %w", st.Index+1, err)
		}
		switch {
		case ok:
			ev.Elapsed = time.Since(start)
			ev.Text = fmt.Sprintf("condition held after %s", ev.Elapsed.Round(time.Millisecond))
			return r.emit(ev)
		case r.opts.Mode == DryRun:
			ev.Text = fmt.Sprintf("dry run: condition does not hold now; a real run would wait up to %s", w.Timeout)
			return r.emit(ev)
		case !time.Now().Add(interval).Before(deadline):
			ev.Elapsed, ev.TimedOut = time.Since(start), true
			ev.Text = fmt.Sprintf("condition still false after %s; going on", w.Timeout)
			return r.emit(ev)
		}
		if err := sleep(ctx, interval); err != nil {
			return err
		}
		interval = min(interval*3/2, r.opts.MaxPollInterval)
	}
}

// pause sleeps d, unless the run skips pauses.
func (r *runner) pause(ctx context.Context, d time.Duration) error {
	if r.opts.SkipPauses {
		return ctx.Err()
	}
	return sleep(ctx, d)
}
