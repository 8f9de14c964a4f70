package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"time"
)

// The watch part (-only watch) measures `pgrunbook watch` in dry run
// beside pgbench, with the same rounds, windows and error bars as the
// server-impact part: one process and one connection for the whole
// round, its rounds every second or back to back. The process runs only
// in the windows that are on: SIGCONT starts it, SIGSTOP pauses it, so it
// keeps its backend throughout. The back-to-back `run --dry-run` loop is
// measured again beside it for comparison, on the same machine at the
// same time. Then, at 2,000 sessions, a back-to-back watch of watchRSSRounds
// rounds gives the watch's peak RSS.

// watchSlice is how long the watch runs per call of the side load; the
// side loop calls again at once while the window is on, so the process is
// paused only between windows (and for microseconds between slices).
const watchSlice = 50 * time.Millisecond

// watchRSSRounds is how many rounds the 2,000-session watch runs.
const watchRSSRounds = 30

// watchSide is a watch process paused and resumed by the side loop.
type watchSide struct {
	cmd *exec.Cmd
	dir string
	// running is whether the process is continued now.
	running bool
}

// startWatch starts a dry-run watch of cancel-long-queries, paused.
func (im *impact) startWatch(ctx context.Context, every time.Duration, dir string) (*watchSide, error) {
	cmd := exec.CommandContext(ctx, im.tools.Pgrunbook, "watch", "cancel-long-queries", "--dry-run",
		"--every", every.String(), "--max-targets", fmt.Sprint(im.maxTargets), "--set", "min_runtime="+im.minRuntime.String(),
		"-d", im.dsn, "--transcript-dir", dir, "--keep-quiet", "-1")
	cmd.Env = toolEnv()
	cmd.Stdout, cmd.Stderr = io.Discard, io.Discard
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	ws := &watchSide{cmd: cmd, dir: dir, running: true}
	// Connected and one round done before it is paused: the start-up is
	// not the watch's steady cost.
	if err := awaitPath(ctx, filepath.Join(dir, "round-000002.jsonl"), 20*time.Second); err != nil {
		ws.stop()
		return nil, fmt.Errorf("the watch did not start its second round: %w", err)
	}
	ws.pause()
	return ws, nil
}

func (ws *watchSide) pause() {
	if ws.running {
		_ = ws.cmd.Process.Signal(syscall.SIGSTOP)
		ws.running = false
	}
}

func (ws *watchSide) resume() {
	if !ws.running {
		_ = ws.cmd.Process.Signal(syscall.SIGCONT)
		ws.running = true
	}
}

// stop ends the watch with SIGTERM and returns its CPU time.
func (ws *watchSide) stop() time.Duration {
	ws.resume()
	_ = ws.cmd.Process.Signal(syscall.SIGTERM)
	_ = ws.cmd.Wait()
	if ru, ok := ws.cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
		return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	}
	return 0
}

// rounds counts the round transcripts the watch has written.
func (ws *watchSide) rounds() int {
	files, _ := filepath.Glob(filepath.Join(ws.dir, "round-*.jsonl"))
	return len(files)
}

// load is the side load that lets the watch run while the window is on.
func (ws *watchSide) load(label string) sideLoad {
	return sideLoad{label: label, once: func(ctx context.Context, r *impactRound, _ int) error {
		ws.resume()
		err := pause(ctx, watchSlice)
		ws.pause()
		return err
	}}
}

// awaitPath polls until path exists, for at most d.
func awaitPath(ctx context.Context, path string, d time.Duration) error {
	deadline := time.Now().Add(d)
	for {
		if _, err := os.Stat(path); err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return errors.New(path + " never appeared")
		}
		if err := pause(ctx, 20*time.Millisecond); err != nil {
			return err
		}
	}
}

// watchRound runs one pgbench round beside a watch every `every`.
func (im *impact) watchRound(ctx context.Context, label string, every time.Duration, dir string) (impactRound, error) {
	ws, err := im.startWatch(ctx, every, dir)
	if err != nil {
		return impactRound{}, err
	}
	before := ws.rounds()
	r, err := im.round(ctx, ws.load(label))
	cpu := ws.stop()
	if err != nil {
		return r, err
	}
	// Runs counts the watch's rounds, not the slices of the side loop.
	r.Runs, r.CPU, r.Wall = ws.rounds()-before, cpu, 0
	return r, nil
}

// runWatchBench is the watch part alone (-only watch), on its own sandbox.
func runWatchBench(ctx context.Context, w io.Writer, cfg config) (err error) {
	began := time.Now()
	p, err := startPart(ctx, w, cfg, "pgrunbook bench, watch only: a dry-run watch beside pgbench")
	if err != nil {
		return err
	}
	defer func() {
		if serr := p.stop(); serr != nil && err == nil {
			err = serr
		}
	}()
	m, cluster, ctl, t, tmp := p.machine, p.cluster, p.ctl, p.tools, p.tmp
	dsn := cluster.DSN("postgres")
	fl, err := stageFleet(ctx, dsn, cfg.Idle, cfg.Long)
	if err != nil {
		return err
	}
	defer fl.close()
	if err := fl.restage(ctx, ctl); err != nil {
		return err
	}
	rows, err := totalRows(ctx, ctl)
	if err != nil {
		return err
	}
	heading(w, fmt.Sprintf("Server impact of a watch: pgbench -c %d -j 2 (scale %d), %d idle sessions + %d statements running pg_sleep (%d rows)",
		cfg.Clients, pgbenchScale, cfg.Idle, cfg.Long, rows))
	fmt.Fprintf(w, "  PostgreSQL %s, max_connections 2300, shared_buffers 128MB, fsync off, autovacuum off\n", m.Postgres)
	im := &impact{cluster: cluster, tools: t, dsn: dsn, dir: tmp, clients: cfg.Clients,
		minRuntime: cfg.MinRuntime, maxTargets: cfg.Long}
	if err := im.setup(ctx, ctl); err != nil {
		return err
	}
	// The back-to-back watch is the target's measure: it is measured in
	// several rounds, pooled, since pgbench's TPS on a shared VM drifts
	// from one window to the next by more than the 5% it is to be told
	// apart from.
	var repeats []impactRound
	for i := range max(cfg.WatchRepeat, 1) {
		r, err := sound(im.watchRound(ctx, fmt.Sprintf("watch --dry-run --every 0 (back to back), round %d", i+1), 0, filepath.Join(tmp, fmt.Sprintf("watch-0-%d", i+1))))
		if err != nil {
			return err
		}
		repeats = append(repeats, r)
	}
	rounds := []impactRound{pooled("watch --dry-run --every 0 (back to back)", repeats)}
	for _, measure := range []func() (impactRound, error){
		func() (impactRound, error) {
			return im.watchRound(ctx, "watch --dry-run --every 1s", time.Second, filepath.Join(tmp, "watch-1s"))
		},
		func() (impactRound, error) {
			return im.round(ctx, im.dryRuns("back-to-back run --dry-run loop (for comparison)", 0, tmp))
		},
	} {
		r, err := sound(measure())
		if err != nil {
			return err
		}
		rounds = append(rounds, r)
	}
	table(w, "  ", watchRows(rounds))
	for _, r := range repeats {
		fmt.Fprintf(w, "  %s: %+.1f%% ± %.1f%%\n", r.Label, r.change(), r.noise())
	}
	for _, r := range rounds {
		fmt.Fprintf(w, "  %s, TPS per window:", r.Label)
		for _, v := range r.Windows {
			fmt.Fprintf(w, " %.0f", v)
		}
		fmt.Fprintln(w)
	}
	fmt.Fprintf(w, "  each round: pgbench -T %d -P 1; after %d s, %d windows of %d s, the side load off and on as %s; the first second of each window is not counted\n",
		roundSeconds, warmupSeconds, len(windowOn), windowSeconds, windowPattern())
	fmt.Fprintln(w, "  a watch runs only in the windows that are on (SIGCONT/SIGSTOP): one process and one backend for the whole round")

	heading(w, "Peak RSS of a watch at 2,000 sessions")
	if rows, err = fl.topUp(ctx, ctl, 2000, 0); err != nil {
		return err
	}
	ch, err := t.pgrunbook(ctx, "watch", "cancel-long-queries", "--dry-run", "--every", "0", "--rounds", fmt.Sprint(watchRSSRounds),
		"--max-targets", fmt.Sprint(cfg.Long), "--set", "min_runtime="+cfg.MinRuntime.String(),
		"-d", dsn, "--transcript-dir", filepath.Join(tmp, "watch-2000"))
	if err != nil {
		return err
	}
	if ch.ExitCode != 0 {
		return fmt.Errorf("the 2,000-session watch exited %d: %s", ch.ExitCode, lastLines(ch.Output, 5))
	}
	fmt.Fprintf(w, "  %d rows, %d back-to-back dry-run rounds: peak RSS %s (target < 64 MiB: %s), %s wall, %s CPU per round\n",
		rows, watchRSSRounds, mib(ch.MaxRSS), verdict(ch.MaxRSS < 64*1024), ms(ch.Wall/watchRSSRounds), ms(ch.CPU/watchRSSRounds))
	if len(rounds) > 0 {
		b2b := rounds[0]
		fmt.Fprintf(w, "  back-to-back dry-run watch beside pgbench: %+.1f%% ± %.1f%% TPS (target: costs less than 5%%: %s)\n",
			b2b.change(), b2b.noise(), verdict(b2b.change() > -5))
	}
	fmt.Fprintf(w, "\nwatch part done in %s (load average now %s)\n", time.Since(began).Round(time.Second), loadAvg())
	return nil
}

// sound passes on a round that ran cleanly: no error, no pgbench client
// aborted, no dry run failed.
func sound(r impactRound, err error) (impactRound, error) {
	switch {
	case err != nil:
		return r, fmt.Errorf("%s: %w", r.Label, err)
	case r.Aborted > 0:
		return r, fmt.Errorf("%s: %d pgbench clients aborted", r.Label, r.Aborted)
	case r.Failed > 0:
		return r, fmt.Errorf("%s: %d of %d dry runs failed", r.Label, r.Failed, r.Runs)
	}
	return r, nil
}

// pooled is one round made of the seconds, windows and side-load work of
// several.
func pooled(label string, rounds []impactRound) impactRound {
	p := impactRound{Label: fmt.Sprintf("%s, %d rounds pooled", label, len(rounds))}
	for _, r := range rounds {
		p.Off = append(p.Off, r.Off...)
		p.On = append(p.On, r.On...)
		p.Windows = append(p.Windows, r.Windows...)
		p.Aborted += r.Aborted
		p.Busy += r.Busy / float64(len(rounds))
		p.Runs += r.Runs
		p.Failed += r.Failed
		p.CPU += r.CPU
		p.Wall += r.Wall
		p.Snapshots += r.Snapshots
		p.LockRows += r.LockRows
	}
	return p
}

// watchRows is the table of the watch part's rounds.
func watchRows(rounds []impactRound) [][]string {
	rows := [][]string{{"beside pgbench", "TPS off", "TPS on", "change", "± (2 s.e.)", "machine busy", "rounds/runs", "pgrunbook CPU/round"}}
	for _, r := range rounds {
		row := []string{r.Label, fmt.Sprintf("%.0f", r.tpsOff()), fmt.Sprintf("%.0f", r.tpsOn()), fmt.Sprintf("%+.1f%%", r.change()),
			fmt.Sprintf("±%.1f%%", r.noise()), fmt.Sprintf("%.0f%%", r.Busy), fmt.Sprint(r.Runs), "-"}
		if r.Runs > 0 && r.CPU > 0 {
			row[7] = ms(r.CPU / time.Duration(r.Runs))
		}
		rows = append(rows, row)
	}
	return rows
}
