package engine

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"
)

// stepClock is a Clock whose time moves only when it is slept on; it
// records each pause.
type stepClock struct {
	now    time.Time
	slept  []time.Duration
	cancel context.CancelFunc // called at the pause numbered cancelAt
	at     int
}

func (c *stepClock) Now() time.Time { return c.now }

func (c *stepClock) Sleep(ctx context.Context, d time.Duration) error {
	c.slept = append(c.slept, d)
	if c.cancel != nil && len(c.slept) == c.at {
		c.cancel()
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	c.now = c.now.Add(d)
	return nil
}

// pauses runs a pacer to the end of its budget and returns its pauses.
func pauses(t *testing.T, sched schedule, within time.Duration) []time.Duration {
	t.Helper()
	c := &stepClock{now: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	p := newPacer(c, sched, within)
	for {
		more, err := p.wait(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if !more {
			break
		}
	}
	if p.elapsed() >= within || p.left() <= 0 {
		t.Errorf("the pauses took %s of a %s budget, %s left", p.elapsed(), within, p.left())
	}
	return c.slept
}

const ms = time.Millisecond

// TestPollScheduleIsTwoMillisecondsGrowingByHalfToForty: the default
// verify and wait schedule, and no pause that would end at or past the
// timeout.
func TestPollScheduleIsTwoMillisecondsGrowingByHalfToForty(t *testing.T) {
	o := Options{PollInterval: DefaultPollInterval, MaxPollInterval: DefaultMaxPollInterval}
	got := pauses(t, o.pollSchedule(), 200*ms)
	want := []time.Duration{2 * ms, 3 * ms, 4500 * time.Microsecond, 6750 * time.Microsecond, 10125 * time.Microsecond,
		15187500 * time.Nanosecond, 22781250 * time.Nanosecond, 34171875 * time.Nanosecond,
		// 138.5ms, then 178.5ms; a third 40ms pause would end past 200ms.
		40 * ms, 40 * ms}
	if !slices.Equal(got, want) {
		t.Errorf("pauses %v, want %v", got, want)
	}
}

// TestReconnectScheduleDoublesFromAHundredMillisecondsToTwoSeconds: the
// pauses between reconnect attempts within the budget.
func TestReconnectScheduleDoublesFromAHundredMillisecondsToTwoSeconds(t *testing.T) {
	got := pauses(t, reconnectSchedule, 7*time.Second)
	// 5.1s in all; a second 2s pause would end past 7s.
	want := []time.Duration{100 * ms, 200 * ms, 400 * ms, 800 * ms, 1600 * ms, 2000 * ms}
	if !slices.Equal(got, want) {
		t.Errorf("pauses %v, want %v", got, want)
	}
}

// TestPacerStopsWhenTheContextEnds: a pause cut short by the context
// returns its error, and no further pause is taken.
func TestPacerStopsWhenTheContextEnds(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	c := &stepClock{now: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), cancel: cancel, at: 3}
	p := newPacer(c, reconnectSchedule, time.Minute)
	var err error
	for more := true; more && err == nil; {
		more, err = p.wait(ctx)
	}
	if !errors.Is(err, context.Canceled) || len(c.slept) != 3 {
		t.Errorf("after %d pauses: %v, want context.Canceled at the third", len(c.slept), err)
	}
}
