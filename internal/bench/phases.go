package main

import (
	"context"
	"fmt"
	"io"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/pgrunbook/pgrunbook/engine"
	"github.com/pgrunbook/pgrunbook/internal/pg"
)

// endToEnd runs the psql pair, pgrunbook (with its transcript on disk,
// and on tmpfs when there is one) and the floor command (keeping the
// rules and below them) trials times, restaging the long
// statements before each run, and prints the comparison and where
// pgrunbook's time goes in its median trial. The order of the methods
// turns by one each trial, so none always runs right after another: a
// run leaves work behind it (the server's log of 200 cancelled
// statements, the disk's journal), and whatever comes next would always
// pay for it.
func endToEnd(ctx context.Context, w io.Writer, res *results, c *comparison, trials int) error {
	type method struct {
		name string
		run  func() error
	}
	// keep runs a trial of a program that keeps a transcript and adds it
	// to into.
	keep := func(into *[]toolTrial, trial func() (toolTrial, error)) func() error {
		return func() error {
			t, err := trial()
			if err != nil {
				return err
			}
			*into = append(*into, t)
			return nil
		}
	}
	toolIn := func(dir string) func() (toolTrial, error) {
		return func() (toolTrial, error) { return c.tool(ctx, dir) }
	}
	floorWith := func(belowRules bool) func() (toolTrial, error) {
		return func() (toolTrial, error) { return c.floor(ctx, c.dir, belowRules) }
	}
	methods := []method{
		{"psql pair", func() error {
			p, err := c.psqlPair(ctx)
			if err != nil {
				return fmt.Errorf("psql pair: %w", err)
			}
			res.psql = append(res.psql, p)
			return nil
		}},
		{"pgrunbook", keep(&res.tool, toolIn(c.dir))},
		{"floor", keep(&res.floor, floorWith(false))},
		{"floor below the rules", keep(&res.floorBelow, floorWith(true))},
	}
	if c.shmDir != "" {
		methods = append(methods, method{"pgrunbook, transcript on tmpfs", keep(&res.toolShm, toolIn(c.shmDir))})
	}
	for i := 0; i < trials; i++ {
		for k := range methods {
			m := methods[(i+k)%len(methods)]
			if err := c.prepare(ctx); err != nil {
				return err
			}
			if err := m.run(); err != nil {
				return err
			}
			if err := c.check(ctx, m.name); err != nil {
				return err
			}
		}
	}
	return printEndToEnd(w, res)
}

// printEndToEnd prints the comparison and where pgrunbook's median runs
// spent their time.
func printEndToEnd(w io.Writer, res *results) error {
	var pc, ps durations
	for _, p := range res.psql {
		pc = append(pc, p.CancelWall)
		ps = append(ps, p.Statement)
	}
	var rss int64
	for _, t := range res.tool {
		rss = max(rss, t.MaxRSS)
	}
	sw := wallTimes(res.toolShm)
	rows := [][]string{{"method", "median", "min", "max", "per trial"},
		spreadRow("psql pair (cancel + poll until none active)", psqlWalls(res.psql)),
		spreadRow("  of which the cancelling psql process", pc),
		spreadRow("  of which its statement (\\timing)", ps),
		spreadRow("pgrunbook run cancel-long-queries --yes", wallTimes(res.tool))}
	if len(sw) > 0 {
		rows = append(rows, spreadRow("  the same, transcript on tmpfs (fsync ~free)", sw))
	}
	rows = append(rows, spreadRow("floor: the rules kept, no engine", wallTimes(res.floor)),
		spreadRow("floor below the rules: no rows recorded, no verify", wallTimes(res.floorBelow)))
	table(w, "  ", rows)
	fmt.Fprintf(w, "  ratio to the psql pair (medians): pgrunbook %.2f×", res.ratioToPsql(res.tool))
	if len(sw) > 0 {
		fmt.Fprintf(w, ", transcript on tmpfs %.2f×", res.ratioToPsql(res.toolShm))
	}
	fmt.Fprintf(w, ", floor %.2f×, below the rules %.2f×\n", res.ratioToPsql(res.floor), res.ratioToPsql(res.floorBelow))
	fmt.Fprintf(w, "  pgrunbook peak RSS %s\n", mib(rss))
	polls := func(ts []toolTrial) ([]int, durations) {
		var p []int
		var cpu durations
		for _, t := range ts {
			p = append(p, t.Polls)
			cpu = append(cpu, t.CPU)
		}
		return p, cpu
	}
	tp, tc := polls(res.tool)
	fmt.Fprintf(w, "  polls until none active, per trial: psql %v, pgrunbook's verify %v", psqlPolls(res.psql), tp)
	if len(res.toolShm) > 0 {
		sp, _ := polls(res.toolShm)
		fmt.Fprintf(w, ", on tmpfs %v", sp)
	}
	fmt.Fprintf(w, "\n  pgrunbook CPU (user+sys) median %s\n", ms(tc.median()))

	// Where the median runs spent their time, side by side.
	fmt.Fprintf(w, "  where the median pgrunbook runs spent their time, from their transcripts (an event's time is taken before it is written):\n")
	if err := printBreakdowns(w, "transcript on disk", res.tool, "on tmpfs", res.toolShm); err != nil {
		return err
	}
	fmt.Fprintf(w, "  where the median floor runs spent their time (transcript on disk):\n")
	return printBreakdowns(w, "rules kept", res.floor, "below the rules", res.floorBelow)
}

// printBreakdowns prints where the median trial of first spent its time,
// next to the same stretches of second's median trial ("-" where second
// has no such stretch, or no trials).
func printBreakdowns(w io.Writer, firstName string, first []toolTrial, secondName string, second []toolTrial) error {
	segs, err := breakdown(medianTrial(first))
	if err != nil {
		return err
	}
	var other []segment
	total := "-"
	if len(second) > 0 {
		if other, err = breakdown(medianTrial(second)); err != nil {
			return err
		}
		total = ms(medianTrial(second).Wall)
	}
	rows := [][]string{{"stretch", firstName, secondName}}
	for _, s := range segs {
		took := "-"
		for _, o := range other {
			if o.Label == s.Label {
				took = ms(o.Took)
				break
			}
		}
		rows = append(rows, []string{s.Label, ms(s.Took), took})
	}
	rows = append(rows, []string{"total", ms(medianTrial(first).Wall), total})
	table(w, "    ", rows)
	return nil
}

// medianTrial returns the trial with the median wall time.
func medianTrial(ts []toolTrial) toolTrial {
	m := wallTimes(ts).median()
	for _, t := range ts {
		if t.Wall == m {
			return t
		}
	}
	return ts[0]
}

// wallTimes are the trials' wall times, in order.
func wallTimes(ts []toolTrial) durations {
	var d durations
	for _, t := range ts {
		d = append(d, t.Wall)
	}
	return d
}

// psqlWalls are the psql pairs' wall times, in order.
func psqlWalls(ps []psqlTrial) durations {
	var d durations
	for _, p := range ps {
		d = append(d, p.Wall)
	}
	return d
}

// spreadRow is a table row of label and d's median, min, max and every
// value.
func spreadRow(label string, d durations) []string {
	return []string{label, ms(d.median()), ms(d.min()), ms(d.max()), trialList(d)}
}

func trialList(d durations) string {
	s := ""
	for i, v := range d {
		if i > 0 {
			s += " "
		}
		s += fmt.Sprintf("%.0f", float64(v)/float64(time.Millisecond))
	}
	return s + " ms"
}

func psqlPolls(p []psqlTrial) []int {
	var out []int
	for _, t := range p {
		out = append(out, t.Polls)
	}
	return out
}

func ratio(a, b time.Duration) float64 {
	if b == 0 {
		return 0
	}
	return float64(a) / float64(b)
}

// stopDetection measures how soon verify notices a statement's end, with
// the engine's default polling and with a 25 ms cap on the interval.
func stopDetection(ctx context.Context, w io.Writer, res *results, cfg config, dsn, dir string, ctl *pgx.Conn) error {
	heading(w, fmt.Sprintf("Stop detection: statement ends 0–%s after verify's first poll, %d trials per setting", cfg.StopSpan, cfg.StopTrials))
	d, err := newStopDetector(ctx, dsn, dir, ctl)
	if err != nil {
		return err
	}
	defer d.close()
	offsets := spreadOffsets(cfg.StopTrials, cfg.StopSpan)
	for _, s := range []struct {
		label         string
		poll, maxPoll time.Duration
	}{
		{fmt.Sprintf("engine defaults (%s, ×1.5, up to %s), as pgrunbook run polls", engine.DefaultPollInterval, engine.DefaultMaxPollInterval), 0, 0},
		{"earlier defaults: 10 ms, ×1.5, up to 200 ms", 10 * time.Millisecond, 200 * time.Millisecond},
	} {
		lat, err := d.measure(ctx, s.label, offsets, s.poll, s.maxPoll)
		if err != nil {
			return err
		}
		res.stop = append(res.stop, lat)
	}
	rows := [][]string{{"polling", "median", "p95", "max", "seen by a poll: median", "p95", "polls per s of verify"}}
	for _, l := range res.stop {
		rows = append(rows, []string{l.Label, ms(l.Latency.median()), ms(l.Latency.p95()), ms(l.Latency.max()),
			ms(l.Noticed.median()), ms(l.Noticed.p95()), fmt.Sprintf("%.0f", l.PollRate)})
	}
	table(w, "  ", rows)
	early := durations{}
	for i, off := range offsets {
		if off < 100*time.Millisecond {
			early = append(early, res.stop[0].Latency[i])
		}
	}
	fmt.Fprintf(w, "  latency: from the statement's end (its client got the cancel error) to the verified event, written and synced;\n")
	fmt.Fprintf(w, "  seen by a poll: to the end of the first snapshot that showed it stopped.\n")
	fmt.Fprintf(w, "  with the defaults, statements ending in the first 100 ms of verify (the case right after a cancel): median %s, max %s (%d trials)\n",
		ms(early.median()), ms(early.max()), len(early))
	return nil
}

// serverImpact measures what a dry-run loop costs the server: first one
// dry run's CPU on each side without other load, then pgbench's TPS with
// the loop switched on and off, back to back and one run per second.
// With detail it also runs the back-to-back loop with its transcripts on
// tmpfs (shmDir, when there is one), where fsync costs next to nothing, and
// polls the snapshot statement every 40 ms, as the proposed verify polling
// would, with and without pg_blocking_pids.
func serverImpact(ctx context.Context, w io.Writer, res *results, im *impact, ctl *pgx.Conn, detail bool, shmDir string) error {
	// Before pgbench's initialisation: its backend's CPU must not be
	// counted as the dry runs'.
	var err error
	if res.quietServer, res.quietTool, res.quietWall, err = im.quietCost(ctx); err != nil {
		return err
	}
	fmt.Fprintf(w, "  one dry run without pgbench (mean of %d): %s wall; CPU: server %s, pgrunbook %s\n",
		quietRuns, ms(res.quietWall), ms(res.quietServer), ms(res.quietTool))
	if err := im.setup(ctx, ctl); err != nil {
		return err
	}
	loads := []sideLoad{
		im.dryRuns("back-to-back --dry-run loop", 0, im.dir),
		im.dryRuns("one --dry-run per second", time.Second, im.dir),
	}
	if detail && shmDir != "" {
		loads = append(loads, im.dryRuns("back-to-back --dry-run loop, transcripts on tmpfs", 0, shmDir))
	}
	if detail {
		client, err := pg.Connect(ctx, pg.Options{DSN: im.dsn})
		if err != nil {
			return err
		}
		defer client.Close(ctx)
		loads = append(loads,
			clientSnapshots("Client.Snapshot every 40 ms", 40*time.Millisecond, client),
			statements("same without pg_blocking_pids, every 40 ms", 40*time.Millisecond, ctl, snapshotWithoutBlockingSQL, 12))
	}
	for _, load := range loads {
		round, err := im.round(ctx, load)
		if err != nil {
			return fmt.Errorf("%s: %w", load.label, err)
		}
		if round.Aborted > 0 {
			return fmt.Errorf("%s: %d pgbench clients aborted", load.label, round.Aborted)
		}
		if round.Failed > 0 {
			return fmt.Errorf("%s: %d of %d dry runs failed", load.label, round.Failed, round.Runs)
		}
		res.impact = append(res.impact, round)
	}
	rows := [][]string{{"beside pgbench", "TPS off", "TPS on", "change", "± (2 s.e.)", "machine busy", "runs", "run wall (mean)", "pgrunbook CPU/run", "rows on a lock/snapshot"}}
	for _, r := range res.impact {
		lock := "-"
		if r.Snapshots > 0 {
			lock = fmt.Sprintf("%.1f", float64(r.LockRows)/float64(r.Snapshots))
		}
		row := []string{r.Label, fmt.Sprintf("%.0f", r.tpsOff()), fmt.Sprintf("%.0f", r.tpsOn()), fmt.Sprintf("%+.1f%%", r.change()),
			fmt.Sprintf("±%.1f%%", r.noise()), fmt.Sprintf("%.0f%%", r.Busy), fmt.Sprint(r.Runs), "-", "-", lock}
		if r.Runs > 0 {
			row[7] = ms(r.Wall / time.Duration(r.Runs))
			if r.CPU > 0 {
				row[8] = ms(r.CPU / time.Duration(r.Runs))
			}
		}
		rows = append(rows, row)
	}
	table(w, "  ", rows)
	for _, r := range res.impact {
		fmt.Fprintf(w, "  %s, TPS per window:", r.Label)
		for _, v := range r.Windows {
			fmt.Fprintf(w, " %.0f", v)
		}
		fmt.Fprintln(w)
	}
	fmt.Fprintf(w, "  each round: pgbench -T %d -P 1; after %d s, %d windows of %d s, the side load off and on as %s; the first second of each window is not counted\n",
		roundSeconds, warmupSeconds, len(windowOn), windowSeconds, windowPattern())
	return nil
}

// windowPattern shows windowOn as "off on on off ...".
func windowPattern() string {
	s := ""
	for i, on := range windowOn {
		if i > 0 {
			s += " "
		}
		if on {
			s += "on"
		} else {
			s += "off"
		}
	}
	return s
}

func pct(v, base float64) float64 {
	if base == 0 {
		return 0
	}
	return (v - base) / base * 100
}

// at2000 tops the sessions up to 2,000 rows, times the snapshot and two
// targeted polls, and runs pgrunbook twice more for its peak RSS there.
func at2000(ctx context.Context, w io.Writer, res *results, fl *fleet, ctl *pgx.Conn, cmp *comparison, dsn, dir string) error {
	heading(w, "At 2,000 sessions")
	if err := snapshots(ctx, w, res, fl, ctl, dsn, []int{2000}); err != nil {
		return err
	}
	var pids []int32
	for _, s := range fl.long {
		pids = append(pids, int32(s.conn.PID()))
	}
	var err error
	if res.pollView, err = measurePoll(ctx, ctl, pollViewSQL, pids); err != nil {
		return err
	}
	if res.pollFunction, err = measurePoll(ctx, ctl, pollFunctionSQL, pids); err != nil {
		return err
	}
	fmt.Fprintf(w, "  a poll of only the %d targets' rows: pg_stat_activity WHERE pid = ANY($1) median %s, p95 %s;\n",
		len(pids), ms(res.pollView.median()), ms(res.pollView.p95()))
	fmt.Fprintf(w, "  pg_stat_get_activity(pid) for each target median %s, p95 %s\n",
		ms(res.pollFunction.median()), ms(res.pollFunction.p95()))
	for i := 0; i < 2; i++ {
		if err := cmp.prepare(ctx); err != nil {
			return err
		}
		tr, err := cmp.tool(ctx, dir)
		if err != nil {
			return err
		}
		if err := cmp.check(ctx, "pgrunbook at 2,000 sessions"); err != nil {
			return err
		}
		res.tool2000 = append(res.tool2000, tr)
	}
	rows, err := totalRows(ctx, ctl)
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "  pgrunbook run cancel-long-queries --yes with %d rows: %s and %s, peak RSS %s and %s\n",
		rows, ms(res.tool2000[0].Wall), ms(res.tool2000[1].Wall), mib(res.tool2000[0].MaxRSS), mib(res.tool2000[1].MaxRSS))
	return nil
}

// endToEndRatio is the median pgrunbook run over the median psql pair,
// with both medians.
func (res *results) endToEndRatio() (r float64, tool, psql time.Duration) {
	return res.ratioToPsql(res.tool), wallTimes(res.tool).median(), psqlWalls(res.psql).median()
}

// ratioToPsql is the median of ts's wall times over the median psql pair.
func (res *results) ratioToPsql(ts []toolTrial) float64 {
	return ratio(wallTimes(ts).median(), psqlWalls(res.psql).median())
}

// summary compares the numbers with the targets.
func summary(w io.Writer, res *results, cfg config) {
	heading(w, "Summary against the targets")
	fmt.Fprintf(w, "  machine: %s\n  before the bench the machine was %.0f%% busy (load average %s); load average at the end %s\n",
		res.machine, res.busyBefore, res.loadStart, loadAvg())
	var rss int64
	for _, t := range slices.Concat(res.tool, res.tool2000) {
		rss = max(rss, t.MaxRSS)
	}
	r, tool, psql := res.endToEndRatio()
	rows := [][]string{{"measure", "value", "target", "verdict"}}
	rows = append(rows, []string{fmt.Sprintf("end to end, %d idle + %d long (%d rows): pgrunbook / psql pair", cfg.Idle, cfg.Long, res.rows),
		fmt.Sprintf("%.2f× (%s vs %s)", r, ms(tool), ms(psql)), "≤ 1.0×", verdict(r <= 1.0)})
	rows = append(rows, []string{"  the least the rules allow (floor command) / psql pair; below the rules",
		fmt.Sprintf("%.2f×; %.2f×", res.ratioToPsql(res.floor), res.ratioToPsql(res.floorBelow)), "", ""})
	rows = append(rows, []string{"pgrunbook peak RSS (up to 2,000 sessions)", fmt.Sprintf("%s (floor of the measure %s)", mib(rss), mib(res.startup[2].MaxRSS)),
		"< 64 MiB", verdict(rss < 64*1024)})
	for _, s := range res.startup[:2] {
		rows = append(rows, []string{"startup: " + s.Name + " (median)", ms(s.Times.median()), "< 20 ms", verdict(s.Times.median() < 20*time.Millisecond)})
	}
	if len(res.stop) > 0 {
		l := res.stop[0].Latency
		rows = append(rows, []string{"stop detection, engine defaults: median / p95", ms(l.median()) + " / " + ms(l.p95()), "≤ 50 ms",
			verdict(l.p95() <= 50*time.Millisecond)})
	}
	rows = append(rows, []string{"one dry run, CPU: server / pgrunbook", ms(res.quietServer) + " / " + ms(res.quietTool), "", ""})
	if res.far != nil {
		rows = append(rows, res.far.summaryRows()...)
	}
	for _, im := range res.impact {
		d := -im.change()
		rows = append(rows, []string{"pgbench TPS drop, " + im.Label, fmt.Sprintf("%.1f%% (±%.1f%%)", d, im.noise()), "< 5%", verdict(d < 5)})
	}
	table(w, "  ", rows)
	srows := [][]string{{"pg_stat_activity rows", "Client.Snapshot median", "p95", "max"}}
	for _, s := range res.snaps {
		srows = append(srows, s.row())
	}
	if len(res.pollView) > 0 {
		srows = append(srows, []string{"2000, only 200 targets: view, pid = ANY($1)", ms(res.pollView.median()), ms(res.pollView.p95()), ms(res.pollView.max())})
		srows = append(srows, []string{"2000, only 200 targets: pg_stat_get_activity(pid)", ms(res.pollFunction.median()), ms(res.pollFunction.p95()), ms(res.pollFunction.max())})
	}
	fmt.Fprintln(w)
	table(w, "  ", srows)
}
