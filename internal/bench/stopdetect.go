package main

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/pgrunbook/pgrunbook/engine"
	"github.com/pgrunbook/pgrunbook/internal/activity"
	"github.com/pgrunbook/pgrunbook/internal/pg"
	"github.com/pgrunbook/pgrunbook/internal/playbook"
	"github.com/pgrunbook/pgrunbook/internal/transcript"
)

// stopApp names the one statement whose end verify has to notice.
const stopApp = "bench-stop"

// stopPlaybook finds the statement and verifies that it stopped, without
// cancelling it: the bench ends it from outside at a recorded instant.
const stopPlaybook = `name: bench-stop-detection
summary: Verify notices a statement that ends on its own.
params:
  app: {type: string, default: bench-stop}
steps:
  - id: snapshot
    activity:
  - id: mine
    filter:
      where: application_name == params.app && state == "active"
  - id: stopped
    verify: {targets: mine, expect: query_stopped, timeout: 5s}
`

// stopLatency is the verify step's detection latency over many trials.
type stopLatency struct {
	Label string
	// Latency is, per trial, the time from the statement's end (its client
	// received the cancel error) to the verified event being recorded;
	// Noticed is the part up to the end of the poll that saw it.
	Latency, Noticed durations
	// Polls is the verify's snapshot count per trial; PollRate is
	// snapshots per second of verify over all trials.
	Polls    []int
	PollRate float64
	elapsed  time.Duration
}

// firstPoll wraps the run's database. It reports when the verify step's
// first poll starts (the playbook's second snapshot) and records when a
// poll first returned a snapshot in which the victim's statement is no
// longer active: the moment verify could know, before it records it.
type firstPoll struct {
	engine.Database
	victim  int
	calls   atomic.Int32
	started chan struct{}
	noticed time.Time // only written by the engine's goroutine
}

func (f *firstPoll) Snapshot(ctx context.Context) (*activity.Snapshot, error) {
	if f.calls.Add(1) == 2 {
		close(f.started)
	}
	snap, err := f.Database.Snapshot(ctx)
	if err == nil && f.noticed.IsZero() && f.calls.Load() >= 2 {
		stopped := true
		for i := range snap.Rows {
			if snap.Rows[i].PID == f.victim && snap.Rows[i].State == "active" {
				stopped = false
			}
		}
		if stopped {
			f.noticed = time.Now()
		}
	}
	return snap, err
}

// stopDetector holds what the trials share.
type stopDetector struct {
	pb     *playbook.Playbook
	vals   playbook.Values
	client *pg.Client
	victim *pgx.Conn
	ctl    *pgx.Conn
	dir    string
	n      int
}

func newStopDetector(ctx context.Context, dsn, dir string, ctl *pgx.Conn) (*stopDetector, error) {
	pb, err := playbook.Parse("bench-stop-detection.yaml", []byte(stopPlaybook))
	if err != nil {
		return nil, err
	}
	vals, err := pb.Resolve([]string{"app=" + stopApp})
	if err != nil {
		return nil, err
	}
	client, err := pg.Connect(ctx, pg.Options{DSN: dsn})
	if err != nil {
		return nil, err
	}
	cfg, err := pgx.ParseConfig(dsn)
	if err != nil {
		client.Close(ctx)
		return nil, err
	}
	cfg.RuntimeParams["application_name"] = stopApp
	victim, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		client.Close(ctx)
		return nil, err
	}
	return &stopDetector{pb: pb, vals: vals, client: client, victim: victim, ctl: ctl, dir: dir}, nil
}

func (d *stopDetector) close() {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	d.client.Close(ctx)
	_ = d.victim.Close(ctx)
}

// measure runs trials, ending the statement offsets[i] after the verify
// step's first poll, with the engine's polling given by poll and maxPoll
// (zero: the engine's defaults, as pgrunbook run uses them).
func (d *stopDetector) measure(ctx context.Context, label string, offsets []time.Duration, poll, maxPoll time.Duration) (stopLatency, error) {
	res := stopLatency{Label: label}
	for _, off := range offsets {
		lat, noticed, polls, elapsed, err := d.trial(ctx, off, poll, maxPoll)
		if err != nil {
			return res, fmt.Errorf("stop detection (%s, ending %s into verify): %w", label, off, err)
		}
		res.Latency = append(res.Latency, lat)
		res.Noticed = append(res.Noticed, noticed)
		res.Polls = append(res.Polls, polls)
		res.elapsed += elapsed
	}
	total := 0
	for _, p := range res.Polls {
		total += p
	}
	if res.elapsed > 0 {
		res.PollRate = float64(total) / res.elapsed.Seconds()
	}
	return res, nil
}

func (d *stopDetector) trial(ctx context.Context, offset, poll, maxPoll time.Duration) (latency, noticed time.Duration, polls int, elapsed time.Duration, err error) {
	fail := func(e error) (time.Duration, time.Duration, int, time.Duration, error) { return 0, 0, 0, 0, e }
	// The statement, ended by a cancel from the control connection.
	var ended time.Time
	var stmtErr error
	stmtDone := make(chan struct{})
	go func() {
		_, stmtErr = d.victim.Exec(context.WithoutCancel(ctx), "SELECT pg_sleep(30)")
		ended = time.Now()
		close(stmtDone)
	}()
	stopStatement := func() {
		_, _ = d.ctl.Exec(context.WithoutCancel(ctx), "SELECT pg_cancel_backend($1)", d.victim.PgConn().PID())
		<-stmtDone
	}
	if err := waitCount(ctx, d.ctl, stopApp, "active", 1); err != nil {
		stopStatement()
		return fail(err)
	}

	d.n++
	tw, err := transcript.Create(filepath.Join(d.dir, fmt.Sprintf("stop-%03d.jsonl", d.n)))
	if err != nil {
		stopStatement()
		return fail(err)
	}
	defer tw.Close()
	db := &firstPoll{Database: d.client, victim: int(d.victim.PgConn().PID()), started: make(chan struct{})}
	var (
		mu       sync.Mutex
		verified time.Time
		event    transcript.Event
	)
	runDone := make(chan error, 1)
	go func() {
		res, err := engine.Run(ctx, engine.Options{
			Playbook: d.pb, Params: d.vals, DB: db, Mode: engine.Yes, Transcript: tw,
			Show: func(ev transcript.Event) {
				if ev.Type == transcript.Verified {
					mu.Lock()
					verified, event = time.Now(), ev
					mu.Unlock()
				}
			},
			PollInterval: poll, MaxPollInterval: maxPoll,
		})
		if err == nil && res.ExitCode != engine.ExitOK {
			err = fmt.Errorf("run ended %s: %s", res.Outcome, res.Message)
		}
		runDone <- err
	}()

	select {
	case <-db.started:
	case err := <-runDone:
		stopStatement()
		return fail(fmt.Errorf("the run ended before verify polled: %v", err))
	case <-ctx.Done():
		stopStatement()
		<-runDone
		return fail(ctx.Err())
	}
	if err := pause(ctx, offset); err != nil {
		stopStatement()
		<-runDone
		return fail(err)
	}
	stopStatement()
	if err := <-runDone; err != nil {
		return fail(err)
	}
	if !isCanceled(stmtErr) {
		return fail(fmt.Errorf("the statement ended with %v, want query_canceled", stmtErr))
	}
	mu.Lock()
	defer mu.Unlock()
	if !slices.Contains(event.Passed, db.victim) || db.noticed.IsZero() {
		return fail(fmt.Errorf("verify did not pass the statement: %+v", event))
	}
	return verified.Sub(ended), db.noticed.Sub(ended), event.Polls, event.Elapsed, nil
}

func isCanceled(err error) bool {
	return pg.SQLState(err) == "57014" && !errors.Is(err, context.Canceled)
}

// spreadOffsets returns n offsets evenly spread over [0, span).
func spreadOffsets(n int, span time.Duration) []time.Duration {
	out := make([]time.Duration, n)
	for i := range out {
		out[i] = span * time.Duration(i) / time.Duration(n)
	}
	return out
}
