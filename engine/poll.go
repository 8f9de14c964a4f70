package engine

import (
	"context"
	"time"

	"github.com/pgrunbook/pgrunbook/internal/activity"
)

// polled is how a poll loop ended.
type polled struct {
	polls   int
	elapsed time.Duration
	// held: the check passed. timedOut: the timeout ended first.
	held, timedOut bool
}

// pollUntil checks snapshots with check until it passes or the timeout
// ends, pacing the polls on Options' poll schedule (the one loop of
// verify and wait until). A database that shows no change (a dry run,
// which signals nothing) is checked once, on the latest snapshot,
// without waiting: neither held nor timed out, then.
//
// Round trips: one snapshot statement per poll; none for an unchanging
// database that was read before.
func (r *runner) pollUntil(ctx context.Context, timeout time.Duration, check func(*activity.Snapshot) (bool, error)) (polled, error) {
	return r.pollWith(ctx, timeout, r.poll, check)
}

// pollWith is pollUntil reading each poll's snapshot with read.
func (r *runner) pollWith(ctx context.Context, timeout time.Duration, read func(context.Context) (*activity.Snapshot, error), check func(*activity.Snapshot) (bool, error)) (polled, error) {
	var res polled
	p := newPacer(r.clock, r.opts.pollSchedule(), timeout)
	for {
		snap, err := read(ctx)
		if err != nil {
			return res, err
		}
		res.polls++
		ok, err := check(snap)
		if err != nil {
			return res, err
		}
		if ok {
			res.held = true
			break
		}
		if r.unchanging {
			break
		}
		more, err := p.wait(ctx)
		if err != nil {
			return res, err
		}
		if !more {
			res.timedOut = true
			break
		}
	}
	res.elapsed = p.elapsed()
	return res, nil
}

// poll is the snapshot a verify or wait poll checks: afresh, except on
// an unchanging database (a dry run signalled nothing), whose latest
// snapshot is checked instead of asking the server again.
func (r *runner) poll(ctx context.Context) (*activity.Snapshot, error) {
	if r.unchanging && r.latest != nil {
		return r.latest, nil
	}
	return r.snapshot(ctx)
}

// pause waits d on the run's clock: a fixed wait, or the interval between
// an activity step's samples.
func (r *runner) pause(ctx context.Context, d time.Duration) error {
	return r.clock.Sleep(ctx, d)
}
