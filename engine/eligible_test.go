package engine

import (
	"strings"
	"testing"
	"time"

	"github.com/pgrunbook/pgrunbook/internal/activity"
	"github.com/pgrunbook/pgrunbook/internal/playbook"
)

// TestEligibleNeverStarting: a row in PostgreSQL 18's state "starting"
// (authentication still under way: no user, no database, no query) is
// excluded with its reason even when the filter matched it, whatever
// backend types the step allows; a started session beside it stays a
// target.
func TestEligibleNeverStarting(t *testing.T) {
	pb, err := playbook.Parse("starting.yaml", []byte(`name: starting
steps:
  - id: snap
    activity:
  - id: everyone
    filter:
      where: "true"
  - terminate:
      targets: everyone
`))
	if err != nil {
		t.Fatal(err)
	}
	vals, err := pb.Resolve(nil)
	if err != nil {
		t.Fatal(err)
	}
	r := &runner{pb: pb, scope: pb.NewScope(vals)}
	now := time.Now()
	rows := []activity.Session{
		{PID: 101, State: "starting", BackendType: activity.ClientBackend, BackendStart: now,
			ClientAddr: "127.0.0.1", ClientPort: 50000, WaitEventType: "Client", WaitEvent: "ClientRead"},
		{PID: 102, State: "active", BackendType: activity.ClientBackend, BackendStart: now,
			Datname: "shop", Usename: "app", Query: "SELECT 1", QueryStart: now},
	}
	for _, types := range [][]string{nil, {activity.ClientBackend}} {
		targets, excluded, err := r.eligible(rows, types)
		if err != nil {
			t.Fatal(err)
		}
		if len(targets) != 1 || targets[0].PID != 102 {
			t.Errorf("backend_types %v: targets %+v, want only pid 102", types, targets)
		}
		if len(excluded) != 1 || excluded[0].Session.PID != 101 || !strings.Contains(excluded[0].Reason, "starting") {
			t.Errorf("backend_types %v: excluded %+v, want pid 101 as still starting", types, excluded)
		}
	}
}
