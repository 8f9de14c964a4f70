package engine

import (
	"context"
	"time"
)

// schedule is how the pauses between tries grow: the first pause, then
// each one Grow times the one before (Grow[0]/Grow[1], in integer
// arithmetic so the sequence is exact), never above Max.
type schedule struct {
	First, Max time.Duration
	Grow       [2]int64
}

// next is the pause after d.
func (s schedule) next(d time.Duration) time.Duration {
	return min(d*time.Duration(s.Grow[0])/time.Duration(s.Grow[1]), s.Max)
}

// pollSchedule paces verify and wait polls: PollInterval first, growing
// by half each poll up to MaxPollInterval (by default 2ms growing to
// 40ms).
func (o *Options) pollSchedule() schedule {
	return schedule{First: o.PollInterval, Max: o.MaxPollInterval, Grow: [2]int64{3, 2}}
}

// reconnectSchedule paces reconnect attempts: 100ms doubling to 2s.
var reconnectSchedule = schedule{First: 100 * time.Millisecond, Max: 2 * time.Second, Grow: [2]int64{2, 1}}

// pacer spaces the tries of one repeated action (the polls of a verify
// or a wait, the attempts of a reconnect) on a schedule, within a time
// budget that starts when the pacer is made.
type pacer struct {
	clock    Clock
	sched    schedule
	start    time.Time
	deadline time.Time
	pause    time.Duration
}

// newPacer starts pacing tries for at most within.
func newPacer(clock Clock, sched schedule, within time.Duration) *pacer {
	now := clock.Now()
	return &pacer{clock: clock, sched: sched, start: now, deadline: now.Add(within), pause: sched.First}
}

// wait pauses before the next try and reports true, or reports false
// without pausing when the pause would not end before the deadline: the
// budget is spent. An error is ctx's, when it ended during the pause.
func (p *pacer) wait(ctx context.Context) (bool, error) {
	if !p.clock.Now().Add(p.pause).Before(p.deadline) {
		return false, nil
	}
	if err := p.clock.Sleep(ctx, p.pause); err != nil {
		return false, err
	}
	p.pause = p.sched.next(p.pause)
	return true, nil
}

// elapsed is the time since the pacer started.
func (p *pacer) elapsed() time.Duration { return p.clock.Now().Sub(p.start) }

// left is what remains of the budget.
func (p *pacer) left() time.Duration { return p.deadline.Sub(p.clock.Now()) }
