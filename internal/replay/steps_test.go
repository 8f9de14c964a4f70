package replay

import (
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/pgrunbook/pgrunbook/internal/fixture"
)

// A lock tree whose second root (20) is a root in the first sample only.
const sampledIncident = `
sessions:
  - {pid: 10, usename: app, application_name: web, state: idle in transaction, xact_start: -10m, query_start: -10m}
  - {pid: 11, usename: app, application_name: web, state: active, query_start: -1m, wait_event_type: Lock, blocked_by: [10]}
  - {pid: 20, usename: app, application_name: etl, state: idle in transaction, xact_start: -5m, query_start: -5m}
  - {pid: 21, usename: app, application_name: etl, state: active, query_start: -1m, wait_event_type: Lock, blocked_by: [20]}
samples:
  - sessions:
      - {pid: 10, usename: app, application_name: web, state: idle in transaction, xact_start: -10m, query_start: -10m}
      - {pid: 11, usename: app, application_name: web, state: active, query_start: -1m, wait_event_type: Lock, blocked_by: [10]}
      - {pid: 20, usename: app, application_name: etl, state: idle in transaction, xact_start: -5m, query_start: -5m}
      - {pid: 21, usename: app, application_name: etl, state: idle}
horizon:
  prepared: [{gid: g1, xmin_age: 100}]
`

const sampledPlaybook = `name: sampled
steps:
  - id: roots
    activity: {samples: 3, interval: 2s, stable: is_root_blocker}
  - id: apps
    summarize: {from: roots, by: [application_name]}
  - id: holders
    horizon:
  - id: approved
    if: len(holders.prepared) > 0
    confirm: {targets: roots, action: terminate}
  - terminate: {targets: approved}
`

// TestReplayServesEverySampleAndTheHorizon: a recorded run with samples
// and a horizon step replays against its own playbook with no
// difference, and a change to stable shows as the root it now targets.
func TestReplayServesEverySampleAndTheHorizon(t *testing.T) {
	pb := parse(t, "sampled.yaml", sampledPlaybook)
	fx, err := fixture.Parse("incident", []byte(sampledIncident))
	if err != nil {
		t.Fatal(err)
	}
	run, err := fixture.RunOffline(context.Background(), fixture.RunOptions{Playbook: pb, Source: fx.NewSource()})
	if err != nil {
		t.Fatal(err)
	}
	if c := against(t, run.Events, pb, Options{}); !c.Identical() {
		t.Errorf("the same playbook differs: %+v", c.Differences)
	}
	// One sample only: 20 is a root in the first sample, so it is
	// targeted now.
	once := parse(t, "once.yaml", strings.Replace(sampledPlaybook, "samples: 3, interval: 2s, ", "", 1))
	c := against(t, run.Events, once, Options{})
	if !slices.Equal(PIDs(c.Targeted), []int{20}) || len(c.Spared) != 0 {
		t.Errorf("targeted %v spared %v, want targeted [20]", c.Targeted, c.Spared)
	}
	// The recorded horizon decides the condition: without the prepared
	// transaction nothing would be approved.
	none := parse(t, "none.yaml", strings.Replace(sampledPlaybook, "len(holders.prepared) > 0", "len(holders.prepared) == 0", 1))
	if c := against(t, run.Events, none, Options{}); !slices.Equal(PIDs(c.Spared), []int{10}) {
		t.Errorf("spared %v, want [10]: the replay did not serve the recorded horizon", PIDs(c.Spared))
	}
}
