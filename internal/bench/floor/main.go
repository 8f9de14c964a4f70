// Command floor is the least a run that keeps pgrunbook's safety rules
// does, for the bench's end-to-end comparison: it tells the cost of the
// rules from the cost of the engine.
//
//	floor -d DSN -transcript PATH [-app NAME] [-min-runtime 1s] [-max-targets 200] [-below-rules]
//
// It cancels every active statement of a client backend (of application
// -app, when given) that has run for at least -min-runtime, as
// `pgrunbook run cancel-long-queries --yes` does on the bench's staged
// sessions, with pgrunbook's own connection
// (internal/pg: the set-up statement with the first snapshot and the
// warm-up in one round trip, the identity check in the signalling
// statement, the server log line of each signal) and its own transcript
// writer (internal/transcript: the intent synced before the signal, the
// outcomes and the end synced after it). It refuses more targets than
// -max-targets, never signals its own backend, and verifies on fresh
// snapshots of the targets until none of them is active.
//
// What it leaves out is the engine: no playbook is read, no expression
// evaluated, nothing shown on a screen and no step, selected or prompt
// event written. Its snapshot event carries every row, as a run's does.
//
// -below-rules also drops two things the rules require: the snapshot
// event carries no rows (the record no longer says what was seen) and
// there is no verify. It is the floor under the floor, for the bench to
// show what is left when even those are gone.
//
// It exits 0 after a run that signalled and verified (or, with
// -below-rules, signalled), 1 with a message on standard error otherwise.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"time"

	"github.com/pgrunbook/pgrunbook/internal/activity"
	"github.com/pgrunbook/pgrunbook/internal/pg"
	"github.com/pgrunbook/pgrunbook/internal/transcript"
)

// Bounds of the verify: a cancelled statement ends within milliseconds,
// so a run that is still waiting after verifyFor has failed.
const (
	verifyEvery = 10 * time.Millisecond
	verifyFor   = 10 * time.Second
)

// options are the command line's.
type options struct {
	dsn, transcript, app string
	minRuntime           time.Duration
	maxTargets           int
	belowRules           bool
}

func main() {
	var o options
	flag.StringVar(&o.dsn, "d", "", "connection string")
	flag.StringVar(&o.transcript, "transcript", "", "transcript `path` (a new file)")
	flag.StringVar(&o.app, "app", "", "cancel only statements of this application_name (default: any)")
	flag.DurationVar(&o.minRuntime, "min-runtime", time.Second, "cancel statements that have run at least this long")
	flag.IntVar(&o.maxTargets, "max-targets", 200, "refuse to signal more sessions than this")
	flag.BoolVar(&o.belowRules, "below-rules", false, "record no rows and skip the verify (below what the rules allow)")
	flag.Parse()
	if o.transcript == "" || flag.NArg() > 0 {
		fmt.Fprintln(os.Stderr, "usage: floor -d DSN -transcript PATH [-app NAME] [-min-runtime D] [-max-targets N] [-below-rules]")
		os.Exit(2)
	}
	if err := run(context.Background(), o); err != nil {
		fmt.Fprintln(os.Stderr, "floor:", err)
		os.Exit(1)
	}
}

// run is the whole command: connect (while the transcript is created),
// snapshot, record, signal, verify.
func run(ctx context.Context, o options) error {
	type connected struct {
		client *pg.Client
		err    error
	}
	conn := make(chan connected, 1)
	go func() {
		c, err := pg.Connect(ctx, pg.Options{DSN: o.dsn, FirstSnapshot: true, WarmUp: true})
		conn <- connected{c, err}
	}()
	w, err := transcript.Create(o.transcript)
	got := <-conn
	if got.err == nil {
		defer got.client.Close(ctx)
	}
	if err != nil {
		return err
	}
	defer w.Close()
	if got.err != nil {
		return got.err
	}
	c := got.client
	c.SetAudit(pg.Audit{Run: o.transcript, Operator: "bench", Playbook: "floor"})
	info := c.Info()
	if _, err := w.Write(transcript.Event{Type: transcript.RunStarted, Playbook: "floor", Mode: transcript.ModeYes,
		Server: &transcript.Server{Host: info.Host, Port: info.Port, User: info.User, Database: info.Database,
			Version: info.Version, VersionNum: info.VersionNum}}); err != nil {
		return err
	}

	snap, err := c.Snapshot(ctx)
	if err != nil {
		return err
	}
	rows := snap.Rows
	if o.belowRules {
		rows = nil
	}
	if _, err := w.Write(transcript.Event{Type: transcript.Snapshot, Step: "find", Taken: &snap.Taken, Rows: rows, ServerFacts: &snap.Server}); err != nil {
		return err
	}
	targets := longStatements(snap, o.app, o.minRuntime)
	if len(targets) == 0 {
		return errors.New("no statement has run for " + o.minRuntime.String())
	}
	if len(targets) > o.maxTargets {
		return fmt.Errorf("%d targets, more than -max-targets %d: nothing signalled", len(targets), o.maxTargets)
	}
	ids := make([]activity.Identity, len(targets))
	for i, t := range targets {
		ids[i] = t.Identity
	}
	// The writer syncs an intent before Write returns.
	if _, err := w.Write(transcript.Event{Type: transcript.Intent, Step: "cancel", Function: activity.Cancel, Targets: ids}); err != nil {
		return err
	}
	results, err := c.Signal(ctx, activity.Cancel, targets, nil)
	if err != nil {
		return err
	}
	actions := make([]transcript.Event, len(results))
	signalled := make(map[int]time.Time)
	for i, r := range results {
		actions[i] = transcript.Event{Type: transcript.Action, Step: "cancel", Function: activity.Cancel,
			PID: r.PID, Outcome: string(r.Outcome), Message: r.Message}
		if r.Outcome == activity.Signalled {
			signalled[r.PID] = targets[i].QueryStart
		}
	}
	if _, err := w.WriteBatch(actions); err != nil {
		return err
	}

	var stillActive []int
	if !o.belowRules {
		ev, err := verify(ctx, c, signalled)
		if err != nil {
			return err
		}
		if _, err := w.Write(ev); err != nil {
			return err
		}
		stillActive = ev.Failed
	}
	outcome, code := transcript.RunDone, 0
	if len(stillActive) > 0 {
		outcome, code = transcript.RunFailed, 1
	}
	if _, err := w.Write(transcript.Event{Type: transcript.RunFinished, Outcome: string(outcome), ExitCode: &code}); err != nil {
		return err
	}
	if len(stillActive) > 0 {
		return fmt.Errorf("cancelled statements still active after %s: pid %v", verifyFor, stillActive)
	}
	return nil
}

// longStatements are the snapshot's active statements of client backends
// other than this one (of application app, unless it is "") that have
// run at least min, as signal targets whose running statement is part of
// their identity.
func longStatements(snap *activity.Snapshot, app string, min time.Duration) []activity.SignalTarget {
	var out []activity.SignalTarget
	for i := range snap.Rows {
		s := &snap.Rows[i]
		if s.IsSelf || s.BackendType != activity.ClientBackend || s.State != activity.StateActive || s.QueryRuntime < min ||
			(app != "" && s.ApplicationName != app) {
			continue
		}
		out = append(out, activity.SignalTarget{Identity: s.Identity(), BackendType: s.BackendType, CheckQuery: true})
	}
	return out
}

// verify reads the signalled sessions (pid: the query_start of the
// statement cancelled) afresh until none of them still runs that
// statement, or verifyFor has passed, and returns the verified event.
func verify(ctx context.Context, c *pg.Client, signalled map[int]time.Time) (transcript.Event, error) {
	ev := transcript.Event{Type: transcript.Verified, Step: "stopped", Expect: "no cancelled statement still active"}
	pids := make([]int, 0, len(signalled))
	for pid := range signalled {
		pids = append(pids, pid)
	}
	start := time.Now()
	for {
		snap, err := c.SnapshotOf(ctx, pids)
		if err != nil {
			return ev, err
		}
		ev.Polls++
		ev.Failed = ev.Failed[:0]
		for i := range snap.Rows {
			s := &snap.Rows[i]
			if q, ok := signalled[s.PID]; ok && s.State == activity.StateActive && s.QueryStart.Equal(q) {
				ev.Failed = append(ev.Failed, s.PID)
			}
		}
		ev.Elapsed = time.Since(start)
		if len(ev.Failed) == 0 || ev.Elapsed > verifyFor {
			ev.TimedOut = len(ev.Failed) > 0
			return ev, nil
		}
		select {
		case <-ctx.Done():
			return ev, ctx.Err()
		case <-time.After(verifyEvery):
		}
	}
}
