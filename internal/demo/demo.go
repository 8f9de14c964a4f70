package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/pgrunbook/pgrunbook/internal/pg/incident"
	"github.com/pgrunbook/pgrunbook/internal/sandbox"
)

// The staged world.
const (
	demoDB    = "demo"  // database holding pgbench's tables and the incident
	lockTable = "stock" // table whose row 1 the idle transaction keeps locked

	pgbenchScale   = 1
	pgbenchClients = 8
	pgbenchThreads = 2
	pgbenchRate    = 100 // transactions per second across all clients

	// stagedFor is how long the staged statements would run on their
	// own: far longer than the demo.
	stagedFor = 10 * time.Minute
	// ageMargin is added to MinAge before the playbooks run, so that every
	// staged statement is safely past the threshold.
	ageMargin = 300 * time.Millisecond
	// settleTimeout bounds the wait for a staged session's client to see
	// the end of its statement after the playbooks are done.
	settleTimeout = 5 * time.Second
	// checkApp is the application_name of the demo's own short-lived
	// connections.
	checkApp = "pgrunbook-demo"
)

// Defaults for config.
const (
	defaultLoadDuration = 15 * time.Second
	defaultMinAge       = 2 * time.Second
)

// config tunes a demo run. The zero value is what `make demo` runs.
type config struct {
	// TranscriptDir receives the playbooks' transcripts. "" creates a new
	// temporary directory, which is kept (and removed again only if no
	// transcript was written).
	TranscriptDir string
	// LoadDuration is how long pgbench runs (-T). pgbench reports its
	// aborted clients only when its run ends, so the run must outlast the
	// staging, both playbooks and the live checks; the demo then waits
	// for it to finish. Default 15s.
	LoadDuration time.Duration
	// MinAge is the threshold given to both playbooks (min_wait and
	// min_runtime). The staged statements are left running at least this
	// long before the playbooks start, while pgbench's statements and
	// lock waits last milliseconds: the threshold is what keeps the load
	// out of the target sets. Default 2s.
	MinAge time.Duration
	// Width is the output width used for session tables; below 60 means
	// 120.
	Width int
}

func (c config) withDefaults() config {
	if c.LoadDuration <= 0 {
		c.LoadDuration = defaultLoadDuration
	}
	if c.MinAge <= 0 {
		c.MinAge = defaultMinAge
	}
	if c.Width < 60 {
		c.Width = 120
	}
	return c
}

// outcome is what a demo run did and left behind, for main and for tests.
type outcome struct {
	// Resolved is true when every scorecard check passed and teardown
	// succeeded.
	Resolved bool
	// Failures lists the failed scorecard checks.
	Failures []string
	// ClusterDir, SocketDir, Port and PostmasterPID identify the sandbox
	// cluster, all of which must be gone after run returns.
	ClusterDir    string
	SocketDir     string
	Port          int
	PostmasterPID int
	// PgbenchPID is the pgbench process of the load.
	PgbenchPID int
	// TranscriptDir holds the transcripts, listed in Transcripts.
	TranscriptDir string
	Transcripts   []string
	// Elapsed is the run's wall-clock time.
	Elapsed time.Duration
}

// errNotResolved is returned by run when the scorecard has a failed check.
var errNotResolved = errors.New("the incident was not resolved with zero collateral damage")

// run performs the whole demo, writing its report to out: sandbox,
// load, staged incident, both playbooks, scorecard and teardown. It
// returns nil only if the incident was resolved with zero collateral
// damage and everything was torn down; errNotResolved when a check
// failed; ctx's error when interrupted; another error when the demo
// itself could not be carried out. The outcome is never nil.
func run(ctx context.Context, out io.Writer, cfg config) (*outcome, error) {
	cfg = cfg.withDefaults()
	start := time.Now()
	res := &outcome{}
	fmt.Fprintln(out, "pgrunbook demo: a mixed incident on a throwaway PostgreSQL under pgbench load,")
	fmt.Fprintln(out, "resolved unattended by two built-in playbooks, then checked for collateral damage.")

	dir, created, err := transcriptDir(cfg.TranscriptDir)
	if err != nil {
		return res, err
	}
	res.TranscriptDir = dir

	card, err := rehearse(ctx, out, cfg, dir, res)
	res.Elapsed = time.Since(start).Round(100 * time.Millisecond)

	if len(res.Transcripts) > 0 {
		fmt.Fprintf(out, "\nTranscripts (kept; show a run again with: pgrunbook replay FILE):\n")
		for _, p := range res.Transcripts {
			fmt.Fprintf(out, "  %s\n", p)
		}
	} else if created {
		_ = os.Remove(dir)
	}

	if card != nil {
		res.Failures = card.failures()
	}
	switch {
	case err != nil && ctx.Err() != nil:
		fmt.Fprintf(out, "\nINTERRUPTED after %s; everything staged was torn down.\n", res.Elapsed)
		return res, fmt.Errorf("demo interrupted: %w", ctx.Err())
	case err != nil:
		fmt.Fprintf(out, "\nNOT RESOLVED: the demo could not be completed after %s: %v\n", res.Elapsed, err)
		return res, err
	case len(res.Failures) > 0:
		fmt.Fprintf(out, "\nNOT RESOLVED after %s: %d of %d checks failed:\n", res.Elapsed, len(res.Failures), len(card.checks))
		for _, f := range res.Failures {
			fmt.Fprintf(out, "  - %s\n", f)
		}
		return res, errNotResolved
	}
	res.Resolved = true
	fmt.Fprintf(out, "\nRESOLVED with zero collateral damage (%s)\n", res.Elapsed)
	return res, nil
}

// transcriptDir returns the directory for transcripts and whether it was
// created here.
func transcriptDir(dir string) (string, bool, error) {
	if dir != "" {
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return "", false, fmt.Errorf("transcript directory: %w", err)
		}
		return dir, false, nil
	}
	dir, err := os.MkdirTemp("", "pgrunbook-demo-transcripts-")
	if err != nil {
		return "", false, fmt.Errorf("transcript directory: %w", err)
	}
	return dir, true, nil
}

// rehearse does the demo's work between the banner and the verdict; every
// resource it creates is released before it returns, on every path.
func rehearse(ctx context.Context, out io.Writer, cfg config, dir string, res *outcome) (card *scorecard, err error) {
	var td teardown
	defer func() { err = errors.Join(err, td.run(out)) }()

	heading(out, "Sandbox")
	cluster, err := sandbox.Start(ctx, sandbox.Options{})
	if err != nil {
		return nil, fmt.Errorf("start a sandbox PostgreSQL: %w", err)
	}
	res.ClusterDir, res.SocketDir, res.Port, res.PostmasterPID = cluster.Dir, cluster.SocketDir, cluster.Port, cluster.PID()
	td.push(func() (string, error) {
		if err := cluster.Stop(); err != nil {
			return "", err
		}
		return fmt.Sprintf("PostgreSQL stopped (postmaster pid %d); %s removed", res.PostmasterPID, cluster.Dir), nil
	})

	version, err := createDatabase(ctx, cluster.DSN(""))
	if err != nil {
		return nil, err
	}
	fmt.Fprintf(out, "  PostgreSQL %s at %s:%d (postmaster pid %d), superuser %s\n", version, cluster.Host, cluster.Port, cluster.PID(), cluster.User)
	fmt.Fprintf(out, "  cluster directory %s (removed at the end)\n", cluster.Dir)
	fmt.Fprintf(out, "  binaries from %s\n", cluster.BinDir)
	fmt.Fprintf(out, "  connect while it runs: psql %q\n", cluster.DSN(demoDB))

	dsn := cluster.DSN(demoDB)
	if err := incident.InitPgbench(ctx, cluster.Command(ctx, "pgbench", incident.PgbenchInitArgs(pgbenchScale, demoDB)...)); err != nil {
		return nil, err
	}
	if err := incident.CreateLockTable(ctx, dsn, lockTable, 1); err != nil {
		return nil, err
	}
	fmt.Fprintf(out, "  database %s created; pgbench -i -s %d done; table %s created\n", demoDB, pgbenchScale, lockTable)

	load := incident.PgbenchRun{
		Clients: pgbenchClients, Threads: pgbenchThreads, Duration: cfg.LoadDuration,
		Rate: pgbenchRate, Database: demoDB,
	}
	bench, err := incident.StartPgbench(ctx, cluster.Command(ctx, "pgbench", load.Args()...))
	if err != nil {
		return nil, err
	}
	loadEnds := time.Now().Add(cfg.LoadDuration)
	res.PgbenchPID = bench.PID()
	td.push(func() (string, error) {
		bench.Stop()
		return fmt.Sprintf("pgbench stopped (pid %d)", res.PgbenchPID), nil
	})
	benchPIDs, err := waitForPgbench(ctx, dsn, bench)
	if err != nil {
		return nil, err
	}
	fmt.Fprintf(out, "  pgbench load running: pgbench %s (pid %d)\n", strings.Join(load.Args(), " "), bench.PID())

	heading(out, "Staged incident in database "+demoDB)
	st := &staged{benchPIDs: benchPIDs}
	td.push(func() (string, error) {
		n := st.close()
		return fmt.Sprintf("%d staged session(s) closed", n), nil
	})
	if err := st.stage(ctx, dsn); err != nil {
		return nil, err
	}
	st.print(out)

	wait := time.Until(st.stagedAt.Add(cfg.MinAge + ageMargin))
	fmt.Fprintf(out, "\n  Letting the staged statements run past %s before the playbooks look (%s).\n", cfg.MinAge, wait.Round(100*time.Millisecond))
	fmt.Fprintf(out, "  pgbench's statements and lock waits last milliseconds: min_wait=%s and\n", cfg.MinAge)
	fmt.Fprintf(out, "  min_runtime=%s keep its sessions out of every target set.\n", cfg.MinAge)
	if err := sleep(ctx, wait); err != nil {
		return nil, err
	}

	runs := []playbookRun{
		{Name: "unblock-lock-chain", Sets: []string{"min_wait=" + cfg.MinAge.String(), "database=" + demoDB}},
		{Name: "cancel-long-queries", Sets: []string{"min_runtime=" + cfg.MinAge.String(), "database=" + demoDB}},
	}
	for i := range runs {
		r := &runs[i]
		r.Transcript = filepath.Join(dir, fmt.Sprintf("%s-%d-%s.jsonl", time.Now().UTC().Format("20060102T150405Z"), i+1, r.Name))
		heading(out, fmt.Sprintf("Playbook %d of %d: pgrunbook run %s --yes --set %s", i+1, len(runs), r.Name, strings.Join(r.Sets, " --set ")))
		created, err := r.run(ctx, out, cluster.DSN(demoDB), cfg.Width)
		if created {
			res.Transcripts = append(res.Transcripts, r.Transcript)
		}
		if err != nil {
			return nil, err
		}
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
	}

	heading(out, "Scorecard")
	card = &scorecard{}
	if err := st.checkLive(ctx, dsn, bench, runs, card); err != nil {
		return nil, err
	}
	if left := time.Until(loadEnds); left > 0 {
		fmt.Fprintf(out, "  (waiting %s for pgbench to finish its %s run and print its report)\n", left.Round(time.Second), cfg.LoadDuration)
	}
	select {
	case <-bench.Done():
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	checkPgbench(bench, card)
	card.print(out)
	return card, nil
}

// createDatabase creates the demo database through dsn and returns the
// server's version.
func createDatabase(ctx context.Context, dsn string) (string, error) {
	conn, err := connectCheck(ctx, dsn)
	if err != nil {
		return "", err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	var version string
	if err := conn.QueryRow(ctx, "SHOW server_version").Scan(&version); err != nil {
		return "", fmt.Errorf("read the server version: %w", err)
	}
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{demoDB}.Sanitize()); err != nil {
		return "", fmt.Errorf("create database %s: %w", demoDB, err)
	}
	return version, nil
}

// connectCheck opens one of the demo's own connections, named checkApp in
// pg_stat_activity.
func connectCheck(ctx context.Context, dsn string) (*pgx.Conn, error) {
	cfg, err := pgx.ParseConfig(dsn)
	if err != nil {
		return nil, fmt.Errorf("parse DSN: %w", err)
	}
	cfg.RuntimeParams["application_name"] = checkApp
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("connect to the sandbox: %w", err)
	}
	return conn, nil
}

// waitForPgbench waits until every pgbench client is connected and returns
// their backend pids. It gives up early if pgbench exits.
func waitForPgbench(ctx context.Context, dsn string, bench *incident.Pgbench) ([]int, error) {
	wctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	go func() {
		select {
		case <-bench.Done():
			cancel()
		case <-wctx.Done():
		}
	}()
	pids, err := incident.WaitForBackends(wctx, dsn, incident.PgbenchApp, pgbenchClients)
	if err != nil {
		select {
		case <-bench.Done():
			_, stderr := bench.Output()
			return nil, fmt.Errorf("pgbench exited before its clients connected:\n%s", strings.TrimSpace(stderr))
		default:
		}
		return nil, err
	}
	return pids, nil
}

// sleep waits for d or until ctx is done.
func sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// heading starts a section of the report.
func heading(out io.Writer, title string) {
	fmt.Fprintf(out, "\n== %s\n", title)
}

// teardown is a stack of release functions, run in reverse order of
// acquisition. Each returns a line saying what it did.
type teardown struct {
	steps []func() (string, error)
}

// push adds a release function.
func (t *teardown) push(fn func() (string, error)) { t.steps = append(t.steps, fn) }

// run releases everything, newest first, reporting each step to out, and
// returns every error joined. It never stops early: a failed step does not
// keep the cluster running.
func (t *teardown) run(out io.Writer) error {
	if len(t.steps) == 0 {
		return nil
	}
	heading(out, "Teardown")
	var errs []error
	for i := len(t.steps) - 1; i >= 0; i-- {
		msg, err := t.steps[i]()
		if err != nil {
			fmt.Fprintf(out, "  ! %v\n", err)
			errs = append(errs, err)
			continue
		}
		fmt.Fprintf(out, "  %s\n", msg)
	}
	t.steps = nil
	return errors.Join(errs...)
}
