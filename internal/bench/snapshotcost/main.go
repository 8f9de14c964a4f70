// Command snapshotcost times pg.Client.Snapshot, the statement behind
// every activity step and verify poll, at 1,000 and 2,000 rows in
// pg_stat_activity: the snapshot-cost part of the bench on its own, made
// to compare two commits on one staged server.
//
// It depends only on internal/pg (Connect, Snapshot) and internal/sandbox
// (Start), so this one directory can be copied into an older checkout and
// built there. Three modes:
//
//	snapshotcost                          start a sandbox, stage, measure, tear down
//	snapshotcost -stage 2000 -dsn-file F  start a sandbox, stage 2,000 rows, write the DSN to F, wait for SIGINT/SIGTERM
//	snapshotcost -dsn DSN -label old      measure on a staged server and print one line
//
// Staging follows the bench (internal/bench): idle sessions on raw protocol
// connections; from 2,000 rows on, 200 of them run SELECT pg_sleep(600).
// The row count includes the measuring client. Each measurement is
// -rounds rounds of 60 timed calls after 5 untimed ones; it prints the
// median and p95 of all calls and each round's median, so that a
// difference between two commits can be told from the spread of one.
//
// A/B recipe, from the root of the newer checkout (OLD and NEW are
// commits; the same server and sessions serve both binaries, run in the
// order old new new old):
//
//	OLD=<commit> NEW=<commit>
//	for c in $OLD $NEW; do
//	  git worktree add --detach /tmp/snap-$c $c
//	  rm -rf /tmp/snap-$c/internal/bench/snapshotcost
//	  cp -r internal/bench/snapshotcost /tmp/snap-$c/internal/bench/
//	  (cd /tmp/snap-$c && go build -o /tmp/snapcost-$c ./internal/bench/snapshotcost)
//	done
//	for rows in 1000 2000; do
//	  rm -f /tmp/snap.dsn
//	  /tmp/snapcost-$NEW -stage $rows -dsn-file /tmp/snap.dsn & stager=$!
//	  while [ ! -s /tmp/snap.dsn ]; do sleep 0.5; done
//	  for c in $OLD $NEW $NEW $OLD; do /tmp/snapcost-$c -dsn "$(cat /tmp/snap.dsn)" -label $c; done
//	  kill $stager; wait $stager
//	done
//	for c in $OLD $NEW; do git worktree remove --force /tmp/snap-$c; done
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/pgrunbook/pgrunbook/internal/pg"
	"github.com/pgrunbook/pgrunbook/internal/sandbox"
)

const (
	calls       = 60
	warmup      = 5
	longAt      = 2000 // from this many rows on, longCount sessions run a statement
	longCount   = 200
	dialWorkers = 24
	idleApp     = "snapcost-idle"
	longApp     = "snapcost-long"
)

func main() {
	dsn := flag.String("dsn", "", "measure on this staged server and exit")
	label := flag.String("label", "", "label printed with the measurement (e.g. the commit)")
	rounds := flag.Int("rounds", 5, "rounds of 60 timed calls per measurement")
	stage := flag.Int("stage", 0, "start a sandbox with this many rows in pg_stat_activity (the measuring client included) and wait")
	dsnFile := flag.String("dsn-file", "", "with -stage: write the sandbox's DSN to this file once staged")
	flag.Parse()

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	var err error
	switch {
	case *dsn != "":
		err = measure(ctx, *dsn, *label, *rounds)
	case *stage > 0:
		err = serve(ctx, *stage, *dsnFile)
	default:
		err = standalone(ctx, *label, *rounds)
	}
	if err != nil && !errors.Is(err, context.Canceled) {
		fmt.Fprintf(os.Stderr, "snapshotcost: %v\n", err)
		os.Exit(1)
	}
}

// standalone stages 1,000 and then 2,000 rows on a sandbox and measures
// each.
func standalone(ctx context.Context, label string, rounds int) error {
	cluster, err := start(ctx)
	if err != nil {
		return err
	}
	defer cluster.Stop()
	st := &stager{dsn: cluster.DSN("postgres")}
	defer st.close()
	for _, rows := range []int{1000, 2000} {
		if err := st.stage(ctx, rows); err != nil {
			return err
		}
		if err := measure(ctx, st.dsn, label, rounds); err != nil {
			return err
		}
	}
	return nil
}

// serve stages rows on a sandbox, publishes its DSN and waits for ctx.
func serve(ctx context.Context, rows int, dsnFile string) error {
	cluster, err := start(ctx)
	if err != nil {
		return err
	}
	defer cluster.Stop()
	st := &stager{dsn: cluster.DSN("postgres")}
	defer st.close()
	if err := st.stage(ctx, rows); err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "snapshotcost: %d rows staged; DSN %s; waiting for SIGINT or SIGTERM\n", rows, st.dsn)
	if dsnFile != "" {
		if err := os.WriteFile(dsnFile, []byte(st.dsn+"\n"), 0o600); err != nil {
			return err
		}
	}
	<-ctx.Done()
	return nil
}

// start starts a sandbox with the bench's settings.
func start(ctx context.Context) (*sandbox.Cluster, error) {
	return sandbox.Start(ctx, sandbox.Options{Settings: map[string]string{
		"max_connections": "2300",
		"shared_buffers":  "128MB",
		"autovacuum":      "off",
	}})
}

// measure times Client.Snapshot on dsn and prints one line.
func measure(ctx context.Context, dsn, label string, rounds int) error {
	if rounds < 1 {
		return fmt.Errorf("-rounds %d: need at least one", rounds)
	}
	c, err := pg.Connect(ctx, pg.Options{DSN: strings.TrimSpace(dsn)})
	if err != nil {
		return err
	}
	defer c.Close(context.Background())
	var all []time.Duration
	var medians []string
	rows := 0
	for r := 0; r < rounds; r++ {
		var round []time.Duration
		for i := -warmup; i < calls; i++ {
			t := time.Now()
			snap, err := c.Snapshot(ctx)
			if err != nil {
				return err
			}
			if i >= 0 {
				round = append(round, time.Since(t))
				rows = len(snap.Rows)
			}
		}
		all = append(all, round...)
		medians = append(medians, ms(quantile(round, 0.5)))
	}
	fmt.Printf("snapshot %-12s rows=%d calls=%d median=%s p95=%s max=%s round medians=%s load=%s\n",
		label, rows, len(all), ms(quantile(all, 0.5)), ms(quantile(all, 0.95)), ms(slices.Max(all)),
		strings.Join(medians, ","), loadAvg())
	return nil
}

// stager holds the staged sessions.
type stager struct {
	dsn   string
	conns []*pgconn.PgConn
	long  int // sessions running pg_sleep
	wg    sync.WaitGroup
}

// stage opens sessions until pg_stat_activity has rows rows counting one
// measuring client, longCount of them running pg_sleep from longAt rows.
func (s *stager) stage(ctx context.Context, rows int) error {
	cfg, err := pgconn.ParseConfig(s.dsn)
	if err != nil {
		return err
	}
	ctl, err := pgconn.ConnectConfig(ctx, cfg)
	if err != nil {
		return err
	}
	defer ctl.Close(context.Background())
	count := func() (int, error) {
		res := ctl.ExecParams(ctx, "SELECT count(*)::text FROM pg_stat_activity", nil, nil, nil, nil).Read()
		if res.Err != nil {
			return 0, res.Err
		}
		var n int
		_, err := fmt.Sscan(string(res.Rows[0][0]), &n)
		return n, err
	}
	if rows >= longAt && s.long < longCount {
		conns, err := dial(ctx, cfg, longApp, longCount-s.long)
		if err != nil {
			return err
		}
		for _, c := range conns {
			s.wg.Add(1)
			go func() {
				defer s.wg.Done()
				_, _ = c.Exec(context.Background(), "SELECT pg_sleep(600)").ReadAll()
			}()
		}
		// Not closed by close: the server's stop ends them.
		s.long = longCount
	}
	n, err := count()
	if err != nil {
		return err
	}
	// The control connection closes before the measuring client opens.
	conns, err := dial(ctx, cfg, idleApp, rows-n)
	if err != nil {
		return err
	}
	s.conns = append(s.conns, conns...)
	return nil
}

// close ends the idle sessions (the long statements end with their
// server).
func (s *stager) close() {
	for _, c := range s.conns {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		_ = c.Close(ctx)
		cancel()
	}
}

// dial opens n sessions named app, dialWorkers at a time.
func dial(ctx context.Context, cfg *pgconn.Config, app string, n int) ([]*pgconn.PgConn, error) {
	if n <= 0 {
		return nil, nil
	}
	conns := make([]*pgconn.PgConn, n)
	errs := make([]error, n)
	jobs := make(chan int)
	var wg sync.WaitGroup
	for w := 0; w < min(dialWorkers, n); w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range jobs {
				c := cfg.Copy()
				c.RuntimeParams["application_name"] = app
				conns[i], errs[i] = pgconn.ConnectConfig(ctx, c)
			}
		}()
	}
	for i := 0; i < n; i++ {
		jobs <- i
	}
	close(jobs)
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		for _, c := range conns {
			if c != nil {
				_ = c.Close(context.Background())
			}
		}
		return nil, err
	}
	return conns, nil
}

// quantile is the nearest-rank q-quantile of d.
func quantile(d []time.Duration, q float64) time.Duration {
	s := slices.Clone(d)
	slices.Sort(s)
	rank := int(float64(len(s))*q+0.999999) - 1
	return s[max(0, min(rank, len(s)-1))]
}

func ms(d time.Duration) string { return fmt.Sprintf("%.2fms", float64(d)/float64(time.Millisecond)) }

// loadAvg is the one-minute load average, or "?".
func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if f := strings.Fields(string(b)); err == nil && len(f) > 0 {
		return f[0]
	}
	return "?"
}
