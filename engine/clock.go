package engine

import (
	"context"
	"time"
)

// Clock is the engine's time: when things happen, and how it waits
// between verify and wait polls, between reconnect attempts, between an
// activity step's samples and during a fixed wait. Options.Clock is the
// real clock when nil; an offline run passes a simulated one whose time
// advances when the engine sleeps, so no run of a fixture waits.
type Clock interface {
	// Now is the current time.
	Now() time.Time
	// Sleep returns after d, or with ctx's error as soon as ctx ends.
	Sleep(ctx context.Context, d time.Duration) error
}

// RealClock is the wall clock: time.Now and a timer.
type RealClock struct{}

// Now returns time.Now().
func (RealClock) Now() time.Time { return time.Now() }

// Sleep waits d on a timer, or until ctx ends (returning its error).
func (RealClock) Sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
