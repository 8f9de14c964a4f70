package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/pgrunbook/pgrunbook/internal/pg/incident"
	"github.com/pgrunbook/pgrunbook/internal/sandbox"
)

// Server-impact load.
const (
	benchDB      = "bench"
	pgbenchScale = 10
	// maxLoopRuns bounds a dry-run loop whatever its duration.
	maxLoopRuns = 5000
)

// impactRound is one pgbench run, alone or beside a dry-run loop.
type impactRound struct {
	Label string
	TPS   float64
	// Aborted counts pgbench clients that were aborted (must be 0).
	Aborted int
	// ServerCPU is what the whole server spent during the round; Busy is
	// the share of the machine's CPU that was busy.
	ServerCPU time.Duration
	Busy      float64
	// Runs, Failed, CPU and Wall describe the dry-run loop beside it.
	Runs, Failed int
	CPU, Wall    time.Duration
}

// impact measures pgbench with clients clients for dur, alone, beside a
// back-to-back loop of `pgrunbook run --dry-run` and beside a loop that
// starts one dry run per second.
type impact struct {
	cluster    *sandbox.Cluster
	tools      tools
	dsn        string
	dir        string
	clients    int
	dur        time.Duration
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

// round runs pgbench once; every > 0 runs a dry-run loop beside it that
// starts a run every `every` (back to back when a run takes longer).
func (im *impact) round(ctx context.Context, label string, loop bool, every time.Duration) (impactRound, error) {
	r := impactRound{Label: label}
	run := incident.PgbenchRun{Clients: im.clients, Threads: 2, Duration: im.dur, Database: benchDB, Extra: []string{"-n"}}
	cpu0, _ := serverCPU(im.cluster.PID())
	m0 := machineCPU()
	pb, err := incident.StartPgbench(ctx, im.cluster.Command(ctx, "pgbench", run.Args()...))
	if err != nil {
		return r, err
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var loopErr error
	if loop {
		wg.Add(1)
		go func() {
			defer wg.Done()
			loopErr = im.loop(ctx, &r, stop, every)
		}()
	}
	sum, err := pb.Wait()
	close(stop)
	wg.Wait()
	cpu1, _ := serverCPU(im.cluster.PID())
	r.ServerCPU, r.Busy = cpu1-cpu0, machineCPU().busySince(m0)
	if err != nil {
		return r, err
	}
	if loopErr != nil {
		return r, loopErr
	}
	r.TPS, r.Aborted = sum.TPS, sum.Aborted
	return r, nil
}

// quietRuns is how many dry runs measure the server's cost of one.
const quietRuns = 20

// quietCost runs quietRuns dry runs one after the other on the server
// without pgbench and returns the server's and pgrunbook's CPU time per
// run, and the run's mean wall time.
func (im *impact) quietCost(ctx context.Context) (server, tool, wall time.Duration, err error) {
	var r impactRound
	cpu0, ok := serverCPU(im.cluster.PID())
	if !ok {
		return 0, 0, 0, fmt.Errorf("cannot read the server's CPU time from /proc")
	}
	for i := 0; i < quietRuns; i++ {
		if err := im.dryRun(ctx, &r, i); err != nil {
			return 0, 0, 0, err
		}
	}
	cpu1, _ := serverCPU(im.cluster.PID())
	if r.Failed > 0 {
		return 0, 0, 0, fmt.Errorf("%d of %d dry runs failed", r.Failed, r.Runs)
	}
	n := time.Duration(r.Runs)
	return (cpu1 - cpu0) / n, r.CPU / n, r.Wall / n, nil
}

// loop runs `pgrunbook run cancel-long-queries --dry-run` until stop is
// closed, at most maxLoopRuns times.
func (im *impact) loop(ctx context.Context, r *impactRound, stop <-chan struct{}, every time.Duration) error {
	for i := 0; i < maxLoopRuns; i++ {
		next := time.Now().Add(every)
		select {
		case <-stop:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		default:
		}
		if err := im.dryRun(ctx, r, i); err != nil {
			return err
		}
		if wait := time.Until(next); wait > 0 {
			select {
			case <-stop:
				return nil
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(wait):
			}
		}
	}
	return nil
}

// dryRun runs `pgrunbook run cancel-long-queries --dry-run` once and adds
// it to r.
func (im *impact) dryRun(ctx context.Context, r *impactRound, i int) error {
	path := filepath.Join(im.dir, fmt.Sprintf("dry-%04d.jsonl", i))
	ch, err := im.tools.pgrunbook(ctx, "run", "cancel-long-queries", "--dry-run",
		"--max-targets", fmt.Sprint(im.maxTargets), "--set", "min_runtime="+im.minRuntime.String(),
		"-d", im.dsn, "--transcript", path)
	if err != nil {
		return err
	}
	_ = os.Remove(path)
	r.Runs++
	r.CPU += ch.CPU
	r.Wall += ch.Wall
	if ch.ExitCode != 0 {
		r.Failed++
	}
	return nil
}
