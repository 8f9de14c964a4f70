package watch

import (
	"fmt"
	"time"
)

// Breaker bounds the signals a watch sends: at most Max within any
// window of Per. Allow is asked before each signalling statement with the
// number of sessions it would signal; it refuses, and records nothing,
// when that would bring the count within the window above Max. A refused
// statement is not sent, so a watch never signals more than Max sessions
// in any window of Per.
type Breaker struct {
	Max int
	Per time.Duration
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// sent holds one time per signalled session, oldest first.
	sent []time.Time
}

// TrippedError is Allow's refusal.
type TrippedError struct {
	Want     int           // sessions the refused statement would have signalled
	InWindow int           // sessions signalled within the window already
	Max      int           // the limit
	Per      time.Duration // the window
}

func (e *TrippedError) Error() string {
	return fmt.Sprintf("circuit breaker: signalling %d more session(s) would make %d within %s, more than --max-signals %d",
		e.Want, e.InWindow+e.Want, e.Per, e.Max)
}

func (b *Breaker) now() time.Time {
	if b.Now != nil {
		return b.Now()
	}
	return time.Now()
}

// InWindow is how many sessions were signalled within the last Per.
func (b *Breaker) InWindow() int {
	cut := b.now().Add(-b.Per)
	i := 0
	for i < len(b.sent) && !b.sent[i].After(cut) {
		i++
	}
	b.sent = b.sent[i:]
	return len(b.sent)
}

// Allow records n sessions about to be signalled, or refuses with a
// *TrippedError when that would exceed Max within the window.
func (b *Breaker) Allow(n int) error {
	in := b.InWindow()
	if in+n > b.Max {
		return &TrippedError{Want: n, InWindow: in, Max: b.Max, Per: b.Per}
	}
	now := b.now()
	for range n {
		b.sent = append(b.sent, now)
	}
	return nil
}
