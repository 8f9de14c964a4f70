package activity

import (
	"testing"
	"time"
)

func TestDeriveRuntimesAndBlockers(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	s := Snapshot{Taken: now, Rows: []Session{
		{PID: 1, BackendStart: now.Add(-time.Hour), QueryStart: now.Add(-time.Minute), State: "idle in transaction"},
		{PID: 2, BackendStart: now.Add(-time.Hour), BlockedBy: []int{1}},
		{PID: 3, BackendStart: now.Add(-time.Hour), BlockedBy: []int{2, 1}},
		{PID: 4, QueryStart: now.Add(time.Second)}, // clock skew: never negative
		{PID: 5, BlockedBy: []int{6}},
		{PID: 6, BlockedBy: []int{5}}, // a deadlock: no root
	}}
	s.Derive()
	if got := s.Rows[0].QueryRuntime; got != time.Minute {
		t.Errorf("query_runtime = %v, want 1m", got)
	}
	if got := s.Rows[0].BackendRuntime; got != time.Hour {
		t.Errorf("backend_runtime = %v, want 1h", got)
	}
	if s.Rows[0].Blocking != 2 || !s.Rows[0].IsRootBlocker {
		t.Errorf("pid 1: blocking=%d root=%v, want 2 true", s.Rows[0].Blocking, s.Rows[0].IsRootBlocker)
	}
	if s.Rows[1].Blocking != 1 || s.Rows[1].IsRootBlocker {
		t.Errorf("pid 2: blocking=%d root=%v, want 1 false", s.Rows[1].Blocking, s.Rows[1].IsRootBlocker)
	}
	if got := s.Rows[2].RootBlockers; len(got) != 1 || got[0] != 1 {
		t.Errorf("pid 3 root_blockers = %v, want [1]", got)
	}
	if s.Rows[0].RootBlockers != nil {
		t.Errorf("pid 1 waits on nobody, root_blockers = %v", s.Rows[0].RootBlockers)
	}
	if s.Rows[3].QueryRuntime != 0 {
		t.Errorf("future query_start gave %v, want 0", s.Rows[3].QueryRuntime)
	}
	if !s.Rows[3].Hidden() {
		t.Error("row without backend_start should be hidden")
	}
	if s.Rows[4].RootBlockers != nil {
		t.Errorf("deadlocked pid 5 root_blockers = %v, want none", s.Rows[4].RootBlockers)
	}
	if got := s.Find(Identity{PID: 2, BackendStart: now.Add(-time.Hour)}); got == nil || got.PID != 2 {
		t.Errorf("Find pid 2 = %v", got)
	}
	if got := s.Find(Identity{PID: 2, BackendStart: now}); got != nil {
		t.Errorf("Find with another backend_start = %v, want nil", got)
	}
}
