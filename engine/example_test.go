package engine_test

import (
	"context"
	"fmt"
	"io"
	"slices"
	"time"

	"github.com/pgrunbook/pgrunbook/engine"
)

// oneLongQuery is a Database of one server where pid 4242 has run a
// report for ten minutes: it cancels whatever a signal reaches.
type oneLongQuery struct {
	now  time.Time
	rows []engine.Session
}

func (db *oneLongQuery) Snapshot(context.Context) (*engine.Snapshot, error) {
	snap := &engine.Snapshot{Taken: db.now, Rows: slices.Clone(db.rows)}
	snap.Derive()
	return snap, nil
}

func (db *oneLongQuery) Signal(_ context.Context, fn engine.Function, targets []engine.SignalTarget, _ []string) ([]engine.SignalResult, error) {
	var out []engine.SignalResult
	for _, t := range targets {
		i := slices.IndexFunc(db.rows, func(s engine.Session) bool { return s.PID == t.PID })
		if i < 0 || !db.rows[i].QueryStart.Equal(t.QueryStart) {
			out = append(out, engine.SignalResult{PID: t.PID, Outcome: engine.SignalChanged})
			continue
		}
		db.rows[i].State, db.rows[i].QueryStart = "idle", db.now
		out = append(out, engine.SignalResult{PID: t.PID, Outcome: engine.Signalled})
	}
	return out, nil
}

func (db *oneLongQuery) Horizon(context.Context) (*engine.Horizon, error) {
	return &engine.Horizon{Taken: db.now}, nil
}

// Run a playbook from outside the module: parse it, resolve its
// parameters, and run it unattended against a Database, here a stand-in
// for a server; the transcript goes to io.Discard and Show prints what
// happened.
func Example() {
	pb, err := engine.ParsePlaybook("cancel-reports.yaml", []byte(`name: cancel-reports
params:
  min_runtime: {type: duration, default: 5m}
steps:
  - activity:
  - id: long
    filter:
      where: state == "active" && query_runtime >= params.min_runtime
  - id: cancelled
    cancel: {targets: long}
  - verify: {targets: cancelled.signalled, expect: query_stopped, timeout: 2s}
`))
	if err != nil {
		fmt.Println(err)
		return
	}
	params, err := pb.Resolve(nil)
	if err != nil {
		fmt.Println(err)
		return
	}
	now := time.Date(2026, 1, 1, 3, 0, 0, 0, time.UTC)
	db := &oneLongQuery{now: now, rows: []engine.Session{{
		PID: 4242, Usename: "reporting", Datname: "shop", BackendType: "client backend", State: "active",
		BackendStart: now.Add(-time.Hour), XactStart: now.Add(-10 * time.Minute), QueryStart: now.Add(-10 * time.Minute),
		Query: "SELECT * FROM orders",
	}}}
	res, err := engine.Run(context.Background(), engine.Options{
		Playbook: pb, Params: params, DB: db, Mode: engine.Yes,
		Transcript: engine.NewTranscript(io.Discard),
		Server:     engine.Server{VersionNum: 150000, Superuser: true},
		Show: func(ev engine.Event) {
			switch ev.Type {
			case "selected":
				fmt.Printf("%s: %d session(s)\n", ev.Step, len(ev.Rows))
			case "action":
				fmt.Printf("%s pid %d: %s\n", ev.Function, ev.PID, ev.Outcome)
			case "verified":
				fmt.Printf("verify: passed %v, failed %v\n", ev.Passed, ev.Failed)
			}
		},
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("outcome:", res.Outcome)
	// Output:
	// long: 1 session(s)
	// cancelled: 1 session(s)
	// pg_cancel_backend pid 4242: signalled
	// verify: passed [4242], failed []
	// outcome: done
}
