package watch

import (
	"errors"
	"testing"
	"time"

	"github.com/pgrunbook/pgrunbook/internal/activity"
	"github.com/pgrunbook/pgrunbook/internal/transcript"
)

func TestBreakerRefusesBeforeExceedingAndForgetsOldSignals(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	b := &Breaker{Max: 3, Per: time.Minute, Now: func() time.Time { return now }}
	if err := b.Allow(2); err != nil {
		t.Fatalf("2 of 3: %v", err)
	}
	err := b.Allow(2)
	var tripped *TrippedError
	if !errors.As(err, &tripped) || tripped.Want != 2 || tripped.InWindow != 2 {
		t.Fatalf("2 more after 2 with max 3: got %v, want a TrippedError", err)
	}
	if got := b.InWindow(); got != 2 {
		t.Errorf("a refused request was counted: %d in window, want 2", got)
	}
	if err := b.Allow(1); err != nil {
		t.Fatalf("the third of 3: %v", err)
	}
	now = now.Add(30 * time.Second)
	if err := b.Allow(1); err == nil {
		t.Fatal("a fourth within the minute was allowed")
	}
	now = now.Add(31 * time.Second) // the first three are older than a minute
	if got := b.InWindow(); got != 0 {
		t.Errorf("%d signals still in the window after it passed", got)
	}
	if err := b.Allow(3); err != nil {
		t.Errorf("a fresh window refused 3: %v", err)
	}
}

func session(pid int, start time.Time) activity.Session {
	return activity.Session{PID: pid, BackendStart: start, State: "idle in transaction"}
}

func round(n int, evs ...transcript.Event) *Round {
	r := &Round{Number: n}
	for _, ev := range evs {
		r.Add(ev)
	}
	return r
}

func TestDiffShowsNewAndGoneTargetsAndSentSignals(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	a, b, c := session(10, t0), session(11, t0), session(12, t0)
	reused := session(10, t0.Add(time.Hour)) // pid 10 again, another backend
	done := transcript.Event{Type: transcript.RunFinished, Outcome: "done"}
	sel := func(rows ...activity.Session) transcript.Event {
		return transcript.Event{Type: transcript.Selected, Kind: "confirm", Rows: rows}
	}
	dry := func(s activity.Session) transcript.Event {
		bs := s.BackendStart
		return transcript.Event{Type: transcript.Action, PID: s.PID, BackendStart: &bs, Outcome: string(activity.DryRun)}
	}
	filterOnly := transcript.Event{Type: transcript.Selected, Kind: "filter", Rows: []activity.Session{c}}

	r1 := round(1, filterOnly, sel(a, b), dry(a), dry(b), done)
	c1 := Diff(nil, r1)
	if len(c1.New) != 2 || len(c1.Gone) != 0 || len(c1.Actions) != 2 || c1.OutcomeChanged {
		t.Fatalf("first round: %+v", c1)
	}
	r2 := round(2, sel(a, b), dry(a), dry(b), done)
	if c2 := Diff(r1, r2); !c2.Empty() {
		t.Errorf("the same targets again: %+v, want no change", c2)
	}
	bs := reused.BackendStart
	sent := transcript.Event{Type: transcript.Action, PID: 10, BackendStart: &bs, Outcome: string(activity.Signalled)}
	r3 := round(3, sel(b, reused), sent, transcript.Event{Type: transcript.RunFinished, Outcome: "failed", Message: "x"})
	c3 := Diff(r2, r3)
	if len(c3.New) != 1 || c3.New[0].BackendStart != reused.BackendStart || len(c3.Gone) != 1 || c3.Gone[0].PID != 10 {
		t.Errorf("a reused pid must count as gone and new: %+v", c3)
	}
	if len(c3.Actions) != 1 || !c3.OutcomeChanged || r3.Signalled() != 1 {
		t.Errorf("a sent signal and a new outcome must show: %+v", c3)
	}
	if r1.Quiet() || !round(4, done).Quiet() {
		t.Error("Quiet: a round with targets is not quiet, an empty done round is")
	}
}
