package main

import (
	"bytes"
	"context"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/pgrunbook/pgrunbook/internal/incident"
	"github.com/pgrunbook/pgrunbook/internal/pg"
	"github.com/pgrunbook/pgrunbook/internal/sandbox"
	"github.com/pgrunbook/pgrunbook/internal/transcript"
)

// Server-impact load.
const (
	benchDB = "bench"
	// pgbenchScale follows pgbench's advice of a scale at least the
	// number of clients, so that the load measures CPU, not a convoy on a
	// few branch rows.
	pgbenchScale = 50
	// maxLoopRuns bounds a dry-run loop whatever its duration.
	maxLoopRuns = 5000
	// sampleEvery keeps one dry-run transcript in this many for reading.
	sampleEvery = 5
)

// A round of pgbench is cut into windows of windowSeconds after
// warmupSeconds that are not counted. The side load is on in the windows
// windowOn marks: as many as it is off, in an order whose mean position is
// the same for both (off on on off on off off on), so that a steady drift
// of the machine or of the tables during the round falls on both sides
// alike. The first second of each window is not counted: a dry run
// started just before a switch may still be finishing.
const (
	warmupSeconds = 3
	windowSeconds = 4
)

var windowOn = []bool{false, true, true, false, true, false, false, true}

// roundSeconds is how long pgbench runs in a round.
var roundSeconds = warmupSeconds + len(windowOn)*windowSeconds

// sideLoad is what runs beside pgbench while its windows are on: one unit
// of work (a dry run, a snapshot statement) every `every`, or back to
// back when every is 0.
type sideLoad struct {
	label string
	every time.Duration
	once  func(ctx context.Context, r *impactRound, i int) error
}

// impactRound is one pgbench run with a side load switched on and off.
type impactRound struct {
	Label string
	// Off and On are pgbench's per-second TPS (-P 1) in the counted
	// seconds of the windows without and with the side load; Windows is
	// each window's mean, in order.
	Off, On []float64
	Windows []float64
	// Aborted counts pgbench clients that were aborted (must be 0).
	Aborted int
	// Busy is the share of the machine's CPU that was busy.
	Busy float64
	// Runs counts the side load's units of work; Failed the dry runs that
	// did not exit 0; CPU and Wall are the dry runs' CPU (pgrunbook's
	// side) and everyone's wall time.
	Runs, Failed int
	CPU, Wall    time.Duration
	// Snapshots seen (sampled from dry-run transcripts, or every one for
	// snapshot statements) and how many of their rows waited on a lock:
	// each such row costs a call of pg_blocking_pids, which takes every
	// lock-manager partition lock.
	Snapshots, LockRows int
	kept                []string // dry-run transcripts to read
}

func (r impactRound) tpsOff() float64 { return mean(r.Off) }
func (r impactRound) tpsOn() float64  { return mean(r.On) }

// change is the TPS change with the side load on, in percent.
func (r impactRound) change() float64 { return pct(r.tpsOn(), r.tpsOff()) }

// noise is twice the standard error of the change, in percent of the TPS
// without the side load: a change within ±noise cannot be told from
// chance (the seconds are treated as independent samples, which they are
// only roughly).
func (r impactRound) noise() float64 {
	off := r.tpsOff()
	if off == 0 || len(r.Off) < 2 || len(r.On) < 2 {
		return 0
	}
	se := math.Sqrt(variance(r.Off)/float64(len(r.Off)) + variance(r.On)/float64(len(r.On)))
	return 2 * se / off * 100
}

// variance is the sample variance.
func variance(v []float64) float64 {
	m := mean(v)
	s := 0.0
	for _, x := range v {
		s += (x - m) * (x - m)
	}
	return s / float64(len(v)-1)
}

func mean(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	s := 0.0
	for _, x := range v {
		s += x
	}
	return s / float64(len(v))
}

// impact measures pgbench with clients clients beside side loads.
type impact struct {
	cluster    *sandbox.Cluster
	tools      tools
	dsn        string
	dir        string
	clients    int
	minRuntime time.Duration
	maxTargets int
}

// setup creates and fills the pgbench database.
func (im *impact) setup(ctx context.Context, ctl *pgx.Conn) error {
	if _, err := ctl.Exec(ctx, "CREATE DATABASE "+benchDB); err != nil {
		return fmt.Errorf("create database %s: %w", benchDB, err)
	}
	return incident.InitPgbench(ctx, im.cluster.Command(ctx, "pgbench", incident.PgbenchInitArgs(pgbenchScale, benchDB)...))
}

// dryRuns is the side load of `pgrunbook run cancel-long-queries
// --dry-run` with its transcripts in dir, keeping one transcript in
// sampleEvery for reading.
func (im *impact) dryRuns(label string, every time.Duration, dir string) sideLoad {
	return sideLoad{label: label, every: every, once: func(ctx context.Context, r *impactRound, i int) error {
		path, err := im.dryRun(ctx, r, dir, i, i%sampleEvery == 0)
		if path != "" {
			r.kept = append(r.kept, path)
		}
		return err
	}}
}

// statements is the side load of one statement on conn, read to the end,
// counting the rows that wait on a lock (column lockColumn).
func statements(label string, every time.Duration, conn *pgx.Conn, sql string, lockColumn int) sideLoad {
	return sideLoad{label: label, every: every, once: func(ctx context.Context, r *impactRound, _ int) error {
		start := time.Now()
		rows, err := conn.Query(ctx, sql)
		if err != nil {
			return err
		}
		for rows.Next() {
			v := rows.RawValues()
			if lockColumn < len(v) && string(v[lockColumn]) == "Lock" {
				r.LockRows++
			}
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		r.Runs++
		r.Snapshots++
		r.Wall += time.Since(start)
		return nil
	}}
}

// clientSnapshots is the side load of pgrunbook's own snapshot statement,
// through pg.Client.
func clientSnapshots(label string, every time.Duration, c *pg.Client) sideLoad {
	return sideLoad{label: label, every: every, once: func(ctx context.Context, r *impactRound, _ int) error {
		start := time.Now()
		snap, err := c.Snapshot(ctx)
		if err != nil {
			return err
		}
		for _, row := range snap.Rows {
			if row.WaitEventType == "Lock" {
				r.LockRows++
			}
		}
		r.Runs++
		r.Snapshots++
		r.Wall += time.Since(start)
		return nil
	}}
}

// round runs pgbench for roundSeconds with the side load on in every
// other window.
func (im *impact) round(ctx context.Context, load sideLoad) (impactRound, error) {
	r := impactRound{Label: load.label}
	var on atomic.Bool
	type second struct {
		tps    float64
		window int // -1 for the warm-up
	}
	windowOf := func(k int) int { // second k+1, 0-based k
		if k < warmupSeconds {
			return -1
		}
		return (k - warmupSeconds) / windowSeconds
	}
	var mu sync.Mutex
	var seconds []second
	progress := &lineWriter{fn: func(line []byte) {
		m := progressLine.FindSubmatch(line)
		if m == nil {
			return
		}
		tps, err := strconv.ParseFloat(string(m[1]), 64)
		if err != nil {
			return
		}
		mu.Lock()
		k := len(seconds)
		seconds = append(seconds, second{tps: tps, window: windowOf(k)})
		next := windowOf(k + 1)
		mu.Unlock()
		on.Store(next >= 0 && next < len(windowOn) && windowOn[next])
	}}
	// Without -n pgbench truncates its history and vacuums its small
	// tables first, so every round starts from the same state.
	run := incident.PgbenchRun{Clients: im.clients, Threads: 2, Duration: time.Duration(roundSeconds) * time.Second,
		Database: benchDB, Extra: []string{"-P", "1"}}
	cmd := im.cluster.Command(ctx, "pgbench", run.Args()...)
	cmd.Stderr = progress
	m0 := machineCPU()
	pb, err := incident.StartPgbench(ctx, cmd)
	if err != nil {
		return r, err
	}
	stop := make(chan struct{})
	loopDone := make(chan error, 1)
	go func() { loopDone <- sideLoop(ctx, &r, stop, &on, load) }()
	sum, err := pb.Wait()
	close(stop)
	loopErr := <-loopDone
	r.Busy = machineCPU().busySince(m0)
	if err != nil {
		return r, err
	}
	if loopErr != nil {
		return r, loopErr
	}
	r.Aborted = sum.Aborted
	mu.Lock()
	defer mu.Unlock()
	for w, sideOn := range windowOn {
		var in []float64
		for k, s := range seconds {
			if s.window == w && (k-warmupSeconds)%windowSeconds != 0 {
				in = append(in, s.tps)
			}
		}
		if len(in) == 0 {
			continue
		}
		r.Windows = append(r.Windows, mean(in))
		if sideOn {
			r.On = append(r.On, in...)
		} else {
			r.Off = append(r.Off, in...)
		}
	}
	if len(r.On) == 0 || len(r.Off) == 0 {
		return r, fmt.Errorf("pgbench reported %d seconds of progress, too few to compare", len(seconds))
	}
	for _, path := range r.kept {
		events, err := readTranscript(path)
		if err != nil {
			return r, err
		}
		for _, ev := range events {
			if ev.Type != transcript.Snapshot {
				continue
			}
			r.Snapshots++
			for _, row := range ev.Rows {
				if row.WaitEventType == "Lock" {
					r.LockRows++
				}
			}
		}
		_ = os.Remove(path)
	}
	return r, nil
}

// progressLine is a line of pgbench -P output.
var progressLine = regexp.MustCompile(`^progress: [0-9.]+ s, ([0-9.]+) tps`)

// lineWriter calls fn for every complete line written to it.
type lineWriter struct {
	buf []byte
	fn  func(line []byte)
}

func (l *lineWriter) Write(b []byte) (int, error) {
	l.buf = append(l.buf, b...)
	for {
		i := bytes.IndexByte(l.buf, '\n')
		if i < 0 {
			return len(b), nil
		}
		l.fn(l.buf[:i])
		l.buf = l.buf[i+1:]
	}
}

// sideLoop runs the side load while on is true until stop is closed, at
// most maxLoopRuns times.
func sideLoop(ctx context.Context, r *impactRound, stop <-chan struct{}, on *atomic.Bool, load sideLoad) error {
	for i := 0; i < maxLoopRuns; {
		select {
		case <-stop:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		default:
		}
		if !on.Load() {
			if err := pause(ctx, 2*time.Millisecond); err != nil {
				return err
			}
			continue
		}
		next := time.Now().Add(load.every)
		if err := load.once(ctx, r, i); err != nil {
			return err
		}
		i++
		for time.Now().Before(next) && on.Load() {
			select {
			case <-stop:
				return nil
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(min(2*time.Millisecond, time.Until(next))):
			}
		}
	}
	return nil
}

// quietRuns is how many dry runs measure the server's cost of one.
const quietRuns = 20

// quietCost runs quietRuns dry runs one after the other without pgbench
// and returns the server's and pgrunbook's CPU time per run, and the
// run's mean wall time.
func (im *impact) quietCost(ctx context.Context) (server, tool, wall time.Duration, err error) {
	var r impactRound
	cpu0, ok := serverCPU(im.cluster.PID())
	if !ok {
		return 0, 0, 0, fmt.Errorf("cannot read the server's CPU time from /proc")
	}
	for i := 0; i < quietRuns; i++ {
		if _, err := im.dryRun(ctx, &r, im.dir, i, false); err != nil {
			return 0, 0, 0, err
		}
	}
	cpu1, ok := serverCPU(im.cluster.PID())
	if !ok {
		return 0, 0, 0, fmt.Errorf("cannot read the server's CPU time from /proc")
	}
	if r.Failed > 0 {
		return 0, 0, 0, fmt.Errorf("%d of %d dry runs failed", r.Failed, r.Runs)
	}
	n := time.Duration(r.Runs)
	return (cpu1 - cpu0) / n, r.CPU / n, r.Wall / n, nil
}

// dryRun runs `pgrunbook run cancel-long-queries --dry-run` once with its
// transcript in dir and adds it to r. It returns the transcript's path
// when keep is set, and removes the transcript otherwise.
func (im *impact) dryRun(ctx context.Context, r *impactRound, dir string, i int, keep bool) (string, error) {
	path := filepath.Join(dir, fmt.Sprintf("dry-%04d.jsonl", i))
	_ = os.Remove(path) // from an earlier round
	ch, err := im.tools.pgrunbook(ctx, "run", "cancel-long-queries", "--dry-run",
		"--max-targets", fmt.Sprint(im.maxTargets), "--set", "min_runtime="+im.minRuntime.String(),
		"-d", im.dsn, "--transcript", path)
	if err != nil {
		return "", err
	}
	r.Runs++
	r.CPU += ch.CPU
	r.Wall += ch.Wall
	if ch.ExitCode != 0 {
		r.Failed++
	}
	if !keep {
		_ = os.Remove(path)
		return "", nil
	}
	return path, nil
}
