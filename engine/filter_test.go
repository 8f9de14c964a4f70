package engine

import (
	"slices"
	"testing"
	"time"

	"github.com/pgrunbook/pgrunbook/internal/activity"
	"github.com/pgrunbook/pgrunbook/internal/playbook"
)

// TestSelectRowsOrdersAndLimits: a filter keeps the matching rows in the
// order its order_by gives (ties in the snapshot's order, descending
// included) and cuts them to its limit, with each kept row whole.
func TestSelectRowsOrdersAndLimits(t *testing.T) {
	pb, err := playbook.Parse("order.yaml", []byte(`name: order
steps:
  - id: snap
    activity:
  - id: longest
    filter:
      where: state == "active"
      order_by: query_runtime
      descending: true
      limit: 3
  - id: shortest
    filter:
      where: state == "active"
      order_by: query_runtime
  - id: every_active
    filter:
      where: state == "active"
`))
	if err != nil {
		t.Fatal(err)
	}
	// pid: runtime in seconds; 12 and 14 tie, and so do 11 and 16.
	runtimes := map[int]int{10: 5, 11: 1, 12: 9, 13: 30, 14: 9, 15: 2, 16: 1}
	var rows []activity.Session
	for _, pid := range []int{10, 11, 12, 13, 14, 15, 16, 17} {
		state := "active"
		if pid == 17 {
			state = "idle"
		}
		rows = append(rows, activity.Session{PID: pid, State: state, Query: "SELECT " + string(rune('a'+pid-10)),
			QueryRuntime: time.Duration(runtimes[pid]) * time.Second})
	}
	scope := pb.NewScope(nil)
	for _, c := range []struct {
		step int
		want []int
	}{
		{1, []int{13, 12, 14}},
		{2, []int{11, 16, 15, 10, 12, 14, 13}},
		{3, []int{10, 11, 12, 13, 14, 15, 16}},
	} {
		got, err := selectRows(scope, pb.Steps[c.step].Filter, rows)
		if err != nil {
			t.Fatal(err)
		}
		var pids []int
		for _, s := range got {
			pids = append(pids, s.PID)
			if want := "SELECT " + string(rune('a'+s.PID-10)); s.Query != want {
				t.Errorf("step %s: pid %d kept with query %q, want its own %q", pb.Steps[c.step].ID, s.PID, s.Query, want)
			}
		}
		if !slices.Equal(pids, c.want) {
			t.Errorf("step %s kept %v, want %v", pb.Steps[c.step].ID, pids, c.want)
		}
	}

	// Many ties keep the snapshot's order (a sort that is not stable
	// shuffles runs this long).
	var tied []activity.Session
	var want []int
	for pid := 100; pid < 200; pid++ {
		tied = append(tied, activity.Session{PID: pid, State: "active", QueryRuntime: time.Duration(pid%2) * time.Second})
		if pid%2 == 0 {
			want = append(want, pid)
		}
	}
	got, err := selectRows(scope, pb.Steps[2].Filter, tied)
	if err != nil {
		t.Fatal(err)
	}
	var pids []int
	for _, s := range got[:len(want)] {
		pids = append(pids, s.PID)
	}
	if !slices.Equal(pids, want) {
		t.Errorf("the 50 sessions tied at 0s come in the order %v, want the snapshot's %v", pids, want)
	}
}
