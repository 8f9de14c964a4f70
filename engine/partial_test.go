package engine_test

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pgrunbook/pgrunbook/engine"
	"github.com/pgrunbook/pgrunbook/internal/activity"
	"github.com/pgrunbook/pgrunbook/internal/incident"
	"github.com/pgrunbook/pgrunbook/internal/pg"
	"github.com/pgrunbook/pgrunbook/internal/pg/pgtest"
	"github.com/pgrunbook/pgrunbook/internal/transcript"
)

// lostMidBatch is the real client, except that its first Signal reports
// the connection lost after the first target's outcome was known: what
// pg.Client.Signal returns when the link dies halfway through its
// one-statement-per-target fallback.
type lostMidBatch struct {
	*pg.Client
	done bool
}

func (d *lostMidBatch) Signal(ctx context.Context, fn activity.Function, targets []activity.SignalTarget, backendTypes []string) ([]activity.SignalResult, error) {
	if d.done {
		return d.Client.Signal(ctx, fn, targets, backendTypes)
	}
	d.done = true
	res, err := d.Client.Signal(ctx, fn, targets[:1], backendTypes)
	if err != nil {
		return res, err
	}
	for _, t := range targets[1:] {
		res = append(res, activity.SignalResult{PID: t.PID, Outcome: activity.Error, Message: "outcome unknown, not re-sent"})
	}
	return res, &pg.ConnectionLostError{Err: errors.New("the link died after the first target")}
}

// A Signal that returns the outcomes it knows with a lost connection:
// the engine records those outcomes as they are (the first target
// signalled, not "outcome unknown"), the others as errors, and restores
// the connection before going on.
func TestSignalOutcomesThatStandSurviveALostConnection(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	db := pgtest.CreateDatabase(t, "partial")
	app := "partial-" + db
	stage := pgtest.Staged[*incident.Session](t)
	first := stage(incident.LongQuery(ctx, pgtest.DSNFor(db), app, time.Minute))
	second := stage(incident.LongQuery(ctx, pgtest.DSNFor(db), app, time.Minute))
	// The second statement still runs, so verify waits out its timeout:
	// a short one.
	pb := parsePlaybook(t, strings.Replace(roundTripCancel, "timeout: 10s", "timeout: 1s", 1))
	vals, err := pb.Resolve([]string{"app=" + app})
	if err != nil {
		t.Fatal(err)
	}
	client, err := pg.Connect(ctx, pg.Options{DSN: pgtest.DSN()})
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close(ctx)
	tw, err := transcript.Create(filepath.Join(t.TempDir(), "run.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	defer tw.Close()
	var events []transcript.Event
	res, err := engine.Run(ctx, engine.Options{
		Playbook: pb, Params: vals, DB: &lostMidBatch{Client: client}, Mode: engine.Yes, Transcript: tw,
		Show:   func(ev transcript.Event) { events = append(events, ev) },
		Server: transcript.Server{BackendPID: client.Info().PID},
	})
	if err != nil {
		t.Fatal(err)
	}
	outcomes := map[int]string{}
	var reconnected bool
	for _, ev := range events {
		if ev.Type == transcript.Action {
			outcomes[ev.PID] = ev.Outcome
		}
		reconnected = reconnected || ev.Type == transcript.Warning && strings.Contains(ev.Text, "reconnect")
	}
	// The playbook orders its targets by pid; which one came first decides
	// which outcome stands.
	firstPID, secondPID := first.PID, second.PID
	if secondPID < firstPID {
		firstPID, secondPID = secondPID, firstPID
	}
	if outcomes[firstPID] != string(activity.Signalled) || outcomes[secondPID] != string(activity.Error) {
		t.Errorf("outcomes %v, want pid %d signalled (it stands) and pid %d error", outcomes, firstPID, secondPID)
	}
	if !reconnected {
		var warnings []string
		for _, ev := range events {
			if ev.Type == transcript.Warning {
				warnings = append(warnings, ev.Text)
			}
		}
		t.Errorf("no warning says the run reconnects after the lost connection; warnings: %q", warnings)
	}
	if res.ExitCode == engine.ExitOK {
		t.Errorf("exit 0 although a target's outcome is unknown and its statement still runs")
	}
}
