package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/pgrunbook/pgrunbook/internal/pg"
	"github.com/pgrunbook/pgrunbook/internal/sandbox"
)

// config is what a bench run measures; the defaults are what make bench
// runs.
type config struct {
	Idle, Long  int           // staged sessions for the end-to-end comparison
	Trials      int           // end-to-end trials of each method
	StartupRuns int           // runs of each command for startup times
	StopTrials  int           // stop-detection trials per polling setting
	StopSpan    time.Duration // statements end at offsets spread over this span into verify
	Clients     int           // pgbench clients
	MinRuntime  time.Duration // min_runtime given to cancel-long-queries
	Bin         string        // a pgrunbook binary to use instead of building one
	CPUProfile  string        // where to write a CPU profile of in-process runs
	// ImpactDetail adds three server-impact rounds: the back-to-back loop
	// with its transcripts on tmpfs, and the snapshot statement polled
	// every 40 ms, with and without pg_blocking_pids.
	ImpactDetail bool
	Timeout      time.Duration // bound on the whole run; 0: 7 minutes, 9 with ImpactDetail
	FarLinkOnly  bool          // only the far-link comparison (farlink.go), on a cluster of its own
	// Only runs one part alone on its own sandbox: "reaction" (see
	// reaction.go) or "watch" (watch.go); "" runs the whole bench.
	Only string
	// ReactionScale multiplies the reaction part's trial counts.
	ReactionScale float64
	// WatchRepeat is how many pgbench rounds the back-to-back watch of
	// the watch part is measured in, pooled.
	WatchRepeat int
}

func defaultConfig() config {
	return config{
		Idle: 1000, Long: 200, Trials: 5, StartupRuns: 20, StopTrials: 30, StopSpan: 600 * time.Millisecond,
		Clients: 50, MinRuntime: 500 * time.Millisecond, ReactionScale: 1, WatchRepeat: 3,
	}
}

func main() { os.Exit(mainCode()) }

// mainCode runs the bench with Ctrl-C and SIGTERM wired to a clean
// teardown; a second signal kills the process at once.
func mainCode() int {
	cfg := defaultConfig()
	flag.IntVar(&cfg.Trials, "trials", cfg.Trials, "end-to-end trials of each method")
	flag.IntVar(&cfg.StopTrials, "stop-trials", cfg.StopTrials, "stop-detection trials per polling setting")
	flag.StringVar(&cfg.Bin, "bin", "", "pgrunbook binary to measure (default: build one)")
	flag.BoolVar(&cfg.ImpactDetail, "impact-detail", false, "also measure pgbench beside the back-to-back loop with transcripts on tmpfs, and beside snapshot polling every 40 ms with and without pg_blocking_pids (adds about 105 s)")
	flag.StringVar(&cfg.CPUProfile, "cpuprofile", "", "write a CPU profile of in-process runs to `FILE`")
	flag.DurationVar(&cfg.Timeout, "timeout", 0, "bound on the whole run (default 7m, 9m with -impact-detail)")
	flag.BoolVar(&cfg.FarLinkOnly, "far-link-only", false, "only compare a pgrunbook dry run with one psql query at 30 ms round-trip time (about 15 s)")
	flag.StringVar(&cfg.Only, "only", "", "run only this part, on a sandbox of its own: reaction (cancel and terminate reaction times, about 1.5 minutes), watch (a dry-run watch beside pgbench, and its RSS at 2,000 sessions, about 3.5 minutes) e2e (the end-to-end comparison with the psql pair, about a minute) or hold (stage the end-to-end sessions and keep them for probing by hand: prints the DSN, restages the long statements on every line read from standard input, ends at its end)")
	flag.Float64Var(&cfg.ReactionScale, "reaction-scale", cfg.ReactionScale, "multiply the reaction part's trial counts by `F`")
	flag.IntVar(&cfg.WatchRepeat, "watch-repeat", cfg.WatchRepeat, "measure the back-to-back watch in `N` pgbench rounds, pooled (-only watch; about 40 s each)")
	flag.Parse()
	if cfg.Only != "" && cfg.Only != "reaction" && cfg.Only != "watch" && cfg.Only != "e2e" && cfg.Only != "hold" {
		fmt.Fprintf(os.Stderr, "bench: -only %q: the parts that run alone are reaction, watch, e2e and hold\n", cfg.Only)
		return 2
	}

	sigCtx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	go func() {
		<-sigCtx.Done()
		stop() // a second Ctrl-C now takes the default action
	}()
	if cfg.Timeout <= 0 {
		cfg.Timeout = 7 * time.Minute
		if cfg.ImpactDetail {
			cfg.Timeout = 9 * time.Minute
		}
	}
	ctx, cancel := context.WithTimeout(sigCtx, cfg.Timeout)
	defer cancel()

	var err error
	switch {
	case cfg.Only == "reaction":
		err = runReaction(ctx, os.Stdout, cfg.ReactionScale)
	case cfg.Only == "watch":
		err = runWatchBench(ctx, os.Stdout, cfg)
	case cfg.Only == "e2e":
		err = runEndToEndOnly(ctx, os.Stdout, cfg)
	case cfg.Only == "hold":
		err = runHold(ctx, os.Stdout, cfg)
	case cfg.FarLinkOnly:
		err = farLinkOnly(ctx, os.Stdout, cfg)
	default:
		err = run(ctx, os.Stdout, cfg)
	}
	switch {
	case err == nil:
		return 0
	case errors.Is(err, context.DeadlineExceeded) && ctx.Err() != nil:
		fmt.Fprintf(os.Stderr, "bench: not done within -timeout %s (%v); the sandbox was stopped and removed\n", cfg.Timeout, err)
		return 1
	case errors.Is(err, context.Canceled):
		fmt.Fprintln(os.Stderr, "bench: interrupted; the sandbox was stopped and removed")
		return 130
	default:
		fmt.Fprintf(os.Stderr, "bench: %v\n", err)
		return 1
	}
}

// results gathers what the summary compares with the targets.
type results struct {
	machine  machine
	startup  []startupResult
	snaps    []snapshotCost
	psql     []psqlTrial
	tool     []toolTrial
	toolShm  []toolTrial // transcript on tmpfs
	tool2000 []toolTrial
	rows     int // pg_stat_activity rows during the comparison
	stop     []stopLatency
	// pollView and pollFunction are polls of only the targets' rows, at
	// 2,000 rows (see snapcost.go).
	pollView, pollFunction durations
	// quietServer, quietTool and quietWall are one dry run's server CPU,
	// pgrunbook CPU and wall time without pgbench.
	quietServer, quietTool, quietWall time.Duration
	loadStart                         string
	busyBefore                        float64 // % of the machine busy before the bench, other work
	impact                            []impactRound
	far                               *farLinkResult
	reaction                          []reactionLevel

	// floor and floorBelow are the floor command's runs, keeping the
	// rules and below them (see internal/bench/floor).
	floor, floorBelow []toolTrial
}

// run does the whole bench; everything it starts is gone when it returns.
func run(ctx context.Context, w io.Writer, cfg config) (err error) {
	began := time.Now()
	res := &results{machine: describeMachine(), loadStart: loadAvg()}
	fmt.Fprintln(w, "pgrunbook bench: pgrunbook against the hand-written psql pair on a throwaway PostgreSQL")

	// Other work on the machine makes every number noisier: say how much,
	// before the bench's own builds add to it.
	before := machineCPU()
	if err := pause(ctx, time.Second); err != nil {
		return err
	}
	res.busyBefore = machineCPU().busySince(before)
	fmt.Fprintf(w, "machine: %s; %.0f%% busy before the bench (load average %s)\n", res.machine, res.busyBefore, res.loadStart)

	tmp, err := os.MkdirTemp("", "pgrunbook-bench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	t, err := buildTools(ctx, tmp, cfg)
	if err != nil {
		return err
	}
	if res.startup, err = measureStartup(ctx, w, t, cfg.StartupRuns); err != nil {
		return err
	}

	heading(w, "Sandbox")
	cluster, ctl, version, err := startBenchServer(ctx)
	if err != nil {
		return err
	}
	defer func() {
		if serr := stopBenchServer(cluster, ctl); serr != nil && err == nil {
			err = serr
		}
	}()
	res.machine.Postgres = version
	dsn := cluster.DSN("postgres")
	fmt.Fprintf(w, "  PostgreSQL %s on %s:%d, max_connections 2300, shared_buffers 128MB, fsync off, autovacuum off\n",
		res.machine.Postgres, cluster.Host, cluster.Port)
	// Before any session is staged: the reaction part runs on an empty
	// server with its own database and load.
	if res.reaction, err = reactionTimes(ctx, w, cluster, ctl, cfg.ReactionScale); err != nil {
		return err
	}
	if res.far, err = farLink(ctx, w, t, cluster, tmp); err != nil {
		return err
	}

	fl, err := newFleet(dsn)
	if err != nil {
		return err
	}
	defer fl.close()

	if err := snapshots(ctx, w, res, fl, ctl, dsn, []int{100, 1000}); err != nil {
		return err
	}

	heading(w, fmt.Sprintf("End to end: %d idle sessions + %d statements running pg_sleep", cfg.Idle, cfg.Long))
	staged := time.Now()
	if err := fl.addIdle(ctx, cfg.Idle-len(fl.idle)); err != nil {
		return err
	}
	if err := fl.addLong(ctx, cfg.Long); err != nil {
		return err
	}
	if res.rows, err = totalRows(ctx, ctl); err != nil {
		return err
	}
	fmt.Fprintf(w, "  staged in %s; pg_stat_activity has %d rows\n", ms(time.Since(staged)), res.rows)
	cmp := &comparison{cluster: cluster, dsn: dsn, tools: t, dir: tmp, ctl: ctl, fleet: fl,
		minRuntime: cfg.MinRuntime, settle: 200 * time.Millisecond, shmDir: tmpfsDir()}
	if cmp.shmDir != "" {
		defer os.RemoveAll(cmp.shmDir)
	}
	if err := endToEnd(ctx, w, res, cmp, cfg.Trials); err != nil {
		return err
	}
	if cfg.CPUProfile != "" {
		if err := cmp.profile(ctx, w, cfg.CPUProfile); err != nil {
			return err
		}
	}

	if err := stopDetection(ctx, w, res, cfg, dsn, tmp, ctl); err != nil {
		return err
	}

	heading(w, fmt.Sprintf("Server impact: pgbench -c %d -j 2 (scale %d) beside pgrunbook --dry-run loops, the staged sessions still there", cfg.Clients, pgbenchScale))
	im := &impact{cluster: cluster, tools: t, dsn: dsn, dir: tmp, clients: cfg.Clients,
		minRuntime: cfg.MinRuntime, maxTargets: cfg.Long}
	if err := serverImpact(ctx, w, res, im, ctl, cfg.ImpactDetail, cmp.shmDir); err != nil {
		return err
	}

	if err := at2000(ctx, w, res, fl, ctl, cmp, dsn, tmp); err != nil {
		return err
	}

	summary(w, res, cfg)
	fmt.Fprintf(w, "\nbench done in %s; tearing down %d sessions and the cluster\n", time.Since(began).Round(time.Second), len(fl.idle)+len(fl.long))
	return nil
}

// runEndToEndOnly is the end-to-end comparison alone (-only e2e), on its
// own sandbox, with the profile of in-process runs when asked.
func runEndToEndOnly(ctx context.Context, w io.Writer, cfg config) (err error) {
	began := time.Now()
	p, err := startPart(ctx, w, cfg, "pgrunbook bench, end to end only: pgrunbook against the hand-written psql pair")
	if err != nil {
		return err
	}
	defer func() {
		if serr := p.stop(); serr != nil && err == nil {
			err = serr
		}
	}()
	res := &results{machine: p.machine, busyBefore: p.busy, loadStart: loadAvg()}
	cluster, ctl, t, tmp := p.cluster, p.ctl, p.tools, p.tmp
	dsn := cluster.DSN("postgres")
	heading(w, fmt.Sprintf("End to end: %d idle sessions + %d statements running pg_sleep", cfg.Idle, cfg.Long))
	fl, err := stageFleet(ctx, dsn, cfg.Idle, cfg.Long)
	if err != nil {
		return err
	}
	defer fl.close()
	if res.rows, err = totalRows(ctx, ctl); err != nil {
		return err
	}
	cmp := &comparison{cluster: cluster, dsn: dsn, tools: t, dir: tmp, ctl: ctl, fleet: fl,
		minRuntime: cfg.MinRuntime, settle: 200 * time.Millisecond, shmDir: tmpfsDir()}
	if cmp.shmDir != "" {
		defer os.RemoveAll(cmp.shmDir)
	}
	if err := endToEnd(ctx, w, res, cmp, cfg.Trials); err != nil {
		return err
	}
	if cfg.CPUProfile != "" {
		if err := cmp.profile(ctx, w, cfg.CPUProfile); err != nil {
			return err
		}
	}
	r, tool, psql := res.endToEndRatio()
	fmt.Fprintf(w, "\n  end to end, %d rows: pgrunbook / psql pair %.2f× (%s vs %s; target ≤ 1.0×: %s)\n",
		res.rows, r, ms(tool), ms(psql), verdict(r <= 1.0))
	fmt.Fprintf(w, "  the floor command / psql pair: %.2f× keeping the rules, %.2f× below them\n",
		res.ratioToPsql(res.floor), res.ratioToPsql(res.floorBelow))
	fmt.Fprintf(w, "\ne2e part done in %s (load average now %s)\n", time.Since(began).Round(time.Second), loadAvg())
	return nil
}

// part is what a part of the bench run alone starts from: the machine
// (with the server's version once it runs), how busy it was, a temporary
// directory with the programs built into it, and the bench's server.
type part struct {
	machine machine
	busy    float64
	tmp     string
	tools   tools
	cluster *sandbox.Cluster
	ctl     *pgx.Conn
}

// startPart prints title and how busy the machine was in the second
// before, builds the programs and starts the server; stop ends it all.
func startPart(ctx context.Context, w io.Writer, cfg config, title string) (*part, error) {
	p := &part{machine: describeMachine()}
	fmt.Fprintln(w, title)
	before := machineCPU()
	if err := pause(ctx, time.Second); err != nil {
		return nil, err
	}
	p.busy = machineCPU().busySince(before)
	fmt.Fprintf(w, "machine: %s; %.0f%% busy before the bench (load average %s)\n", p.machine, p.busy, loadAvg())
	var err error
	if p.tmp, err = os.MkdirTemp("", "pgrunbook-bench-"); err != nil {
		return nil, err
	}
	if p.tools, err = buildTools(ctx, p.tmp, cfg); err != nil {
		os.RemoveAll(p.tmp)
		return nil, err
	}
	if p.cluster, p.ctl, p.machine.Postgres, err = startBenchServer(ctx); err != nil {
		os.RemoveAll(p.tmp)
		return nil, err
	}
	return p, nil
}

// stop stops the server and removes the temporary directory.
func (p *part) stop() error {
	err := stopBenchServer(p.cluster, p.ctl)
	os.RemoveAll(p.tmp)
	return err
}

// buildTools builds the programs a part of the bench runs into dir: the
// pgrunbook binary (unless cfg.Bin names one), the rusage wrapper and
// the floor command.
func buildTools(ctx context.Context, dir string, cfg config) (tools, error) {
	t := tools{Pgrunbook: cfg.Bin}
	var err error
	if t.Pgrunbook == "" {
		if t.Pgrunbook, err = goBuild(ctx, dir, "pgrunbook", "github.com/pgrunbook/pgrunbook/cmd/pgrunbook"); err != nil {
			return t, err
		}
	}
	if t.Rusage, err = goBuild(ctx, dir, "rusage", "github.com/pgrunbook/pgrunbook/internal/bench/rusage"); err != nil {
		return t, err
	}
	t.Floor, err = goBuild(ctx, dir, "floor", "github.com/pgrunbook/pgrunbook/internal/bench/floor")
	return t, err
}

// connectControl opens the bench's own connection for staging checks.
func connectControl(ctx context.Context, dsn string) (*pgx.Conn, error) {
	cfg, err := pgx.ParseConfig(dsn)
	if err != nil {
		return nil, err
	}
	cfg.RuntimeParams["application_name"] = controlApp
	return pgx.ConnectConfig(ctx, cfg)
}

// snapshots tops the sessions up to each level and times Client.Snapshot.
func snapshots(ctx context.Context, w io.Writer, res *results, fl *fleet, ctl *pgx.Conn, dsn string, levels []int) error {
	client, err := pg.Connect(ctx, pg.Options{DSN: dsn})
	if err != nil {
		return err
	}
	defer client.Close(ctx)
	for _, level := range levels {
		t := time.Now()
		rows, err := fl.topUp(ctx, ctl, level, 0)
		if err != nil {
			return err
		}
		cost, err := measureSnapshot(ctx, client)
		if err != nil {
			return err
		}
		res.snaps = append(res.snaps, cost)
		fmt.Fprintf(w, "  %d rows (staged in %s): Client.Snapshot median %s, p95 %s over %d calls\n",
			rows, ms(time.Since(t)), ms(cost.Times.median()), ms(cost.Times.p95()), len(cost.Times))
	}
	return nil
}

// benchSettings are the server settings every part of the bench runs
// with: room for 2,000 staged sessions, and autovacuum off, since a worker
// waking in the middle of a pgbench round or of a CPU reading is noise
// (pgbench vacuums before each round).
var benchSettings = map[string]string{
	"max_connections": "2300",
	"shared_buffers":  "128MB",
	"autovacuum":      "off",
}

// startBenchServer starts the bench's throwaway server and opens its
// control connection; version is the server's server_version. Stop both
// with stopBenchServer.
func startBenchServer(ctx context.Context) (cluster *sandbox.Cluster, ctl *pgx.Conn, version string, err error) {
	cluster, err = sandbox.Start(ctx, sandbox.Options{Settings: benchSettings})
	if err != nil {
		return nil, nil, "", err
	}
	ctl, err = connectControl(ctx, cluster.DSN("postgres"))
	if err == nil {
		err = ctl.QueryRow(ctx, "SELECT current_setting('server_version')").Scan(&version)
	}
	if err != nil {
		if ctl != nil {
			ctl.Close(context.Background())
		}
		_ = cluster.Stop()
		return nil, nil, "", err
	}
	return cluster, ctl, version, nil
}

// stopBenchServer closes the control connection and stops the server.
func stopBenchServer(cluster *sandbox.Cluster, ctl *pgx.Conn) error {
	ctl.Close(context.Background())
	return cluster.Stop()
}
