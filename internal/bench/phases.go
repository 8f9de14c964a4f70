package main

import (
	"context"
	"fmt"
	"io"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"
)

// endToEnd alternates the psql pair and pgrunbook, restaging the long
// statements before each trial, and prints the comparison and where
// pgrunbook's time goes in its median trial.
func endToEnd(ctx context.Context, w io.Writer, res *results, c *comparison, trials int) error {
	for i := 0; i < trials; i++ {
		if err := c.prepare(ctx); err != nil {
			return err
		}
		p, err := c.psqlPair(ctx)
		if err != nil {
			return fmt.Errorf("psql pair: %w", err)
		}
		if err := c.check(ctx, "psql pair"); err != nil {
			return err
		}
		res.psql = append(res.psql, p)
		if err := c.prepare(ctx); err != nil {
			return err
		}
		t, err := c.tool(ctx, c.dir)
		if err != nil {
			return err
		}
		if err := c.check(ctx, "pgrunbook"); err != nil {
			return err
		}
		res.tool = append(res.tool, t)
		if c.shmDir == "" {
			continue
		}
		if err := c.prepare(ctx); err != nil {
			return err
		}
		t, err = c.tool(ctx, c.shmDir)
		if err != nil {
			return err
		}
		if err := c.check(ctx, "pgrunbook, transcript on tmpfs"); err != nil {
			return err
		}
		res.toolShm = append(res.toolShm, t)
	}
	var pw, pc, ps, tw, sw durations
	var rss int64
	for i := range res.psql {
		pw = append(pw, res.psql[i].Wall)
		pc = append(pc, res.psql[i].CancelWall)
		ps = append(ps, res.psql[i].Statement)
		tw = append(tw, res.tool[i].Wall)
		rss = max(rss, res.tool[i].MaxRSS)
	}
	for _, t := range res.toolShm {
		sw = append(sw, t.Wall)
	}
	rows := [][]string{{"method", "median", "min", "max", "per trial"}}
	rows = append(rows, []string{"psql pair (cancel + poll until none active)", ms(pw.median()), ms(pw.min()), ms(pw.max()), trialList(pw)})
	rows = append(rows, []string{"  of which the cancelling psql process", ms(pc.median()), ms(pc.min()), ms(pc.max()), trialList(pc)})
	rows = append(rows, []string{"  of which its statement (\\timing)", ms(ps.median()), ms(ps.min()), ms(ps.max()), trialList(ps)})
	rows = append(rows, []string{"pgrunbook run cancel-long-queries --yes", ms(tw.median()), ms(tw.min()), ms(tw.max()), trialList(tw)})
	if len(sw) > 0 {
		rows = append(rows, []string{"  the same, transcript on tmpfs (fsync ~free)", ms(sw.median()), ms(sw.min()), ms(sw.max()), trialList(sw)})
	}
	table(w, "  ", rows)
	fmt.Fprintf(w, "  ratio pgrunbook / psql (medians): %.2f×", ratio(tw.median(), pw.median()))
	if len(sw) > 0 {
		fmt.Fprintf(w, "; with the transcript on tmpfs %.2f×", ratio(sw.median(), pw.median()))
	}
	fmt.Fprintf(w, "   pgrunbook peak RSS %s\n", mib(rss))
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

	// Where the median pgrunbook trial spent its time.
	med := res.tool[0]
	for _, t := range res.tool {
		if t.Wall == tw.median() {
			med = t
		}
	}
	segs, err := breakdown(med)
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "  where the median pgrunbook run (%s) spent its time, from its transcript:\n", ms(med.Wall))
	srows := [][]string{{"stretch", "took"}}
	for _, s := range segs {
		srows = append(srows, []string{s.Label, ms(s.Took)})
	}
	table(w, "    ", srows)
	return nil
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
		{"engine defaults (10 ms, ×1.5, up to 200 ms), as pgrunbook run polls", 0, 0},
		{"proposed: PollInterval 2 ms, MaxPollInterval 40 ms", 2 * time.Millisecond, 40 * time.Millisecond},
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

// serverImpact runs pgbench alone, beside the two dry-run loops, and
// alone again: the two rounds alone are the baseline and show the noise.
func serverImpact(ctx context.Context, w io.Writer, res *results, im *impact, ctl *pgx.Conn) error {
	if err := im.setup(ctx, ctl); err != nil {
		return err
	}
	var err error
	if res.quietServer, res.quietTool, res.quietWall, err = im.quietCost(ctx); err != nil {
		return err
	}
	fmt.Fprintf(w, "  one dry run on the quiet server (mean of %d): %s wall; CPU: server %s, pgrunbook %s\n",
		quietRuns, ms(res.quietWall), ms(res.quietServer), ms(res.quietTool))
	for _, r := range []struct {
		label string
		loop  bool
		every time.Duration
	}{
		{"pgbench alone", false, 0},
		{"beside a back-to-back --dry-run loop", true, 0},
		{"beside one --dry-run per second", true, time.Second},
		{"pgbench alone, again", false, 0},
	} {
		round, err := im.round(ctx, r.label, r.loop, r.every)
		if err != nil {
			return fmt.Errorf("%s: %w", r.label, err)
		}
		if round.Aborted > 0 {
			return fmt.Errorf("%s: %d pgbench clients aborted", r.label, round.Aborted)
		}
		if round.Failed > 0 {
			return fmt.Errorf("%s: %d of %d dry runs failed", r.label, round.Failed, round.Runs)
		}
		res.impact = append(res.impact, round)
	}
	base, _ := res.baseline()
	rows := [][]string{{"round", "TPS", "vs alone", "machine busy", "server CPU/s", "dry runs", "run wall (mean)", "pgrunbook CPU/s"}}
	for _, r := range res.impact {
		row := []string{r.Label, fmt.Sprintf("%.0f", r.TPS), fmt.Sprintf("%+.1f%%", pct(r.TPS, base)),
			fmt.Sprintf("%.0f%%", r.Busy), ms(perSecond(r.ServerCPU, im.dur)), "-", "-", "-"}
		if r.Runs > 0 {
			row[5] = fmt.Sprint(r.Runs)
			row[6] = ms(r.Wall / time.Duration(r.Runs))
			row[7] = ms(perSecond(r.CPU, im.dur))
		}
		rows = append(rows, row)
	}
	table(w, "  ", rows)
	fmt.Fprintf(w, "  baseline: mean of the rounds alone, %.0f TPS (the two differ by %.1f%%: the noise of this machine)\n",
		base, abs(pct(res.impact[3].TPS, res.impact[0].TPS)))
	return nil
}

// baseline is the mean TPS and server CPU of the rounds without a loop.
func (res *results) baseline() (float64, time.Duration) {
	var tps float64
	var cpu time.Duration
	n := 0
	for _, r := range res.impact {
		if r.Runs == 0 {
			tps += r.TPS
			cpu += r.ServerCPU
			n++
		}
	}
	if n == 0 {
		return 0, 0
	}
	return tps / float64(n), cpu / time.Duration(n)
}

func perSecond(d, over time.Duration) time.Duration {
	return time.Duration(float64(d) / over.Seconds())
}

func abs(f float64) float64 {
	if f < 0 {
		return -f
	}
	return f
}

func pct(v, base float64) float64 {
	if base == 0 {
		return 0
	}
	return (v - base) / base * 100
}

// summary compares the numbers with the targets.
func summary(w io.Writer, res *results, cfg config) {
	heading(w, "Summary against the targets")
	fmt.Fprintf(w, "  machine: %s; load average %s at the start, %s at the end\n", res.machine, res.loadStart, loadAvg())
	var pw, tw durations
	var rss int64
	for i := range res.psql {
		pw = append(pw, res.psql[i].Wall)
		tw = append(tw, res.tool[i].Wall)
	}
	for _, t := range slices.Concat(res.tool, res.tool2000) {
		rss = max(rss, t.MaxRSS)
	}
	r := ratio(tw.median(), pw.median())
	rows := [][]string{{"measure", "value", "target", "verdict"}}
	rows = append(rows, []string{fmt.Sprintf("end to end, %d idle + %d long: pgrunbook / psql pair", cfg.Idle, cfg.Long),
		fmt.Sprintf("%.2f× (%s vs %s)", r, ms(tw.median()), ms(pw.median())), "≤ 1.5×", verdict(r <= 1.5)})
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
	base, _ := res.baseline()
	for _, im := range res.impact {
		if im.Runs == 0 {
			continue
		}
		d := -pct(im.TPS, base)
		rows = append(rows, []string{"pgbench TPS drop " + im.Label, fmt.Sprintf("%.1f%%", d), "< 5%", verdict(d < 5)})
	}
	table(w, "  ", rows)
	srows := [][]string{{"pg_stat_activity rows", "Client.Snapshot median", "p95", "max"}}
	for _, s := range res.snaps {
		srows = append(srows, s.row())
	}
	fmt.Fprintln(w)
	table(w, "  ", srows)
}
