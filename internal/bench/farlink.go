package main

// A far link: pgrunbook and psql through a TCP proxy that adds 15 ms each
// way (30 ms round-trip time), as to a server in another region. What
// counts there is round trips, not CPU: a dry run of cancel-long-queries
// (connect, read the role's privileges, one snapshot) against one psql
// query (connect, one query).

import (
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/pgrunbook/pgrunbook/internal/sandbox"
)

// Far-link settings.
const (
	farOneWay  = 15 * time.Millisecond
	farTrials  = 15
	farLongApp = "bench-far-long"
	farLongs   = 3   // statements a dry run finds and would cancel
	farTarget  = 1.3 // pgrunbook dry run / psql query
	// farScramRole logs in with a SCRAM password over TCP, as on most
	// servers that are far away; the sandbox trusts every other login.
	farScramRole     = "bench_far_scram"
	farScramPassword = "bench-far-password"
)

// farLinkResult is the far-link comparison, once per way of logging in.
type farLinkResult struct {
	Logins []farLogin
}

// farLogin is the comparison for one way of logging in.
type farLogin struct {
	Name            string
	RTT             durations // SELECT 1 over an open connection through the proxy
	Psql, Pgrunbook durations
	runs            []toolTrial // the pgrunbook runs, for the breakdown
}

func (f farLogin) ratio() float64 { return ratio(f.Pgrunbook.median(), f.Psql.median()) }

// summaryRows are the comparison's lines in the summary.
func (f *farLinkResult) summaryRows() [][]string {
	var rows [][]string
	for _, l := range f.Logins {
		rows = append(rows, []string{fmt.Sprintf("far link (%s RTT, %s): pgrunbook --dry-run / one psql query", ms(l.RTT.median()), l.Name),
			fmt.Sprintf("%.2f× (%s vs %s)", l.ratio(), ms(l.Pgrunbook.median()), ms(l.Psql.median())),
			fmt.Sprintf("≤ %.1f×", farTarget), verdict(l.ratio() <= farTarget)})
	}
	return rows
}

// farLinkOnly is the bench with -far-link-only: its own small cluster
// and the far-link comparison alone.
func farLinkOnly(ctx context.Context, w io.Writer, cfg config) (err error) {
	p, err := startPart(ctx, w, cfg, "pgrunbook bench, far link only")
	if err != nil {
		return err
	}
	defer func() {
		if serr := p.stop(); serr != nil && err == nil {
			err = serr
		}
	}()
	res, err := farLink(ctx, w, p.tools, p.cluster, p.tmp)
	if err != nil {
		return err
	}
	fmt.Fprintln(w)
	rows := [][]string{{"measure", "value", "target", "verdict"}}
	table(w, "  ", append(rows, res.summaryRows()...))
	return nil
}

// farLink compares, through a proxy adding farOneWay each way, a dry run
// of cancel-long-queries that finds farLongs statements with one psql
// query of pg_stat_activity, alternating, farTrials times each after one
// warm-up round: once logged in as the sandbox's trusted superuser (no
// authentication exchange) and once as a role with a SCRAM password.
func farLink(ctx context.Context, w io.Writer, t tools, cluster *sandbox.Cluster, dir string) (*farLinkResult, error) {
	heading(w, fmt.Sprintf("Far link: %s added each way (TCP proxy on loopback)", ms(farOneWay)))
	proxy, err := startLatencyProxy(net.JoinHostPort(cluster.Host, strconv.Itoa(cluster.Port)), farOneWay)
	if err != nil {
		return nil, err
	}
	defer proxy.close()
	stop, err := stageFarLongs(ctx, cluster.DSN("postgres"))
	if err != nil {
		return nil, err
	}
	defer stop()
	if err := addScramRole(ctx, cluster); err != nil {
		return nil, err
	}
	base := fmt.Sprintf("host=127.0.0.1 port=%d dbname=postgres sslmode=disable", proxy.port())
	res := &farLinkResult{}
	for _, login := range []struct{ name, dsn string }{
		{"trust", base + " user=" + cluster.User},
		{"SCRAM password", base + " user=" + farScramRole + " password=" + farScramPassword},
	} {
		l, err := farTrialsOf(ctx, t, cluster, dir, login.name, login.dsn)
		if err != nil {
			return nil, err
		}
		res.Logins = append(res.Logins, l)
	}

	rows := [][]string{{"login", "start to exit, " + strconv.Itoa(farTrials) + " runs each", "median", "p95", "min", "median ÷ RTT"}}
	for _, l := range res.Logins {
		for _, r := range []struct {
			name string
			d    durations
		}{
			{"psql -c: one query of pg_stat_activity", l.Psql},
			{fmt.Sprintf("pgrunbook run cancel-long-queries --dry-run (%d targets)", farLongs), l.Pgrunbook},
		} {
			rows = append(rows, []string{l.Name, r.name, ms(r.d.median()), ms(r.d.p95()), ms(r.d.min()),
				fmt.Sprintf("%.1f", float64(r.d.median())/float64(l.RTT.median()))})
		}
	}
	table(w, "  ", rows)
	for _, l := range res.Logins {
		fmt.Fprintf(w, "  %s: round trip through the proxy (SELECT 1 on an open connection) median %s; pgrunbook / psql %.2f× (target ≤ %.1f×: %s)\n",
			l.Name, ms(l.RTT.median()), l.ratio(), farTarget, verdict(l.ratio() <= farTarget))
	}
	segs, err := breakdown(medianTrial(res.Logins[0].runs))
	if err != nil {
		return nil, err
	}
	fmt.Fprintf(w, "  the median pgrunbook run (%s), between its transcript events:\n", res.Logins[0].Name)
	brows := [][]string{{"segment", "took"}}
	for _, s := range segs {
		brows = append(brows, []string{s.Label, ms(s.Took)})
	}
	table(w, "    ", brows)
	return res, nil
}

// farTrialsOf runs the trials of one login.
func farTrialsOf(ctx context.Context, t tools, cluster *sandbox.Cluster, dir, name, dsn string) (farLogin, error) {
	l := farLogin{Name: name}
	var err error
	if l.RTT, err = measureRTT(ctx, dsn, 20); err != nil {
		return l, err
	}
	psql := filepath.Join(cluster.BinDir, "psql")
	query := "SELECT pid, usename, application_name, state, query_start, query FROM pg_stat_activity WHERE backend_type = 'client backend'"
	for i := -1; i < farTrials; i++ {
		p, err := t.measured(ctx, psql, "-X", "-q", "-A", "-t", "-d", dsn, "-c", query)
		if err != nil {
			return l, err
		}
		if p.ExitCode != 0 {
			return l, fmt.Errorf("psql exited %d: %s", p.ExitCode, lastLines(p.Output, 5))
		}
		path := filepath.Join(dir, fmt.Sprintf("far-%d-%02d.jsonl", len(name), i+1))
		g, err := t.pgrunbook(ctx, "run", "cancel-long-queries", "--dry-run", "-d", dsn, "--set", "min_runtime=0s", "--transcript", path)
		if err != nil {
			return l, err
		}
		if g.ExitCode != 0 {
			return l, fmt.Errorf("pgrunbook --dry-run exited %d:\n%s", g.ExitCode, lastLines(g.Output, 20))
		}
		if i >= 0 {
			l.Psql = append(l.Psql, p.Wall)
			l.Pgrunbook = append(l.Pgrunbook, g.Wall)
			l.runs = append(l.runs, toolTrial{child: g, Transcript: path})
		}
	}
	return l, nil
}

// addScramRole creates farScramRole, a superuser with a SCRAM password,
// and makes the server ask it for that password over TCP (a line at the
// top of pg_hba.conf, then a reload); it returns once a wrong password is
// refused.
func addScramRole(ctx context.Context, cluster *sandbox.Cluster) error {
	ctl, err := pgx.Connect(ctx, cluster.DSN("postgres"))
	if err != nil {
		return err
	}
	defer ctl.Close(context.WithoutCancel(ctx))
	_, err = ctl.Exec(ctx, "SET password_encryption = 'scram-sha-256'; DROP ROLE IF EXISTS "+farScramRole+
		"; CREATE ROLE "+farScramRole+" LOGIN SUPERUSER PASSWORD '"+farScramPassword+"'")
	if err != nil {
		return err
	}
	hba := filepath.Join(cluster.DataDir, "pg_hba.conf")
	old, err := os.ReadFile(hba)
	if err != nil {
		return err
	}
	line := "host all " + farScramRole + " 127.0.0.1/32 scram-sha-256\n"
	if err := os.WriteFile(hba, append([]byte(line), old...), 0o600); err != nil { // keeps the file's owner
		return err
	}
	if _, err := ctl.Exec(ctx, "SELECT pg_reload_conf()"); err != nil {
		return err
	}
	wrong := cluster.DSN("postgres") + " user=" + farScramRole + " password=wrong"
	for deadline := time.Now().Add(10 * time.Second); ; {
		c, err := pgx.Connect(ctx, wrong)
		if err != nil {
			return nil
		}
		c.Close(ctx)
		if time.Now().After(deadline) {
			return fmt.Errorf("the server still lets %s in without its password after reloading pg_hba.conf", farScramRole)
		}
		if err := pause(ctx, 20*time.Millisecond); err != nil {
			return err
		}
	}
}

// measureRTT times SELECT 1 n times on one connection made with dsn.
func measureRTT(ctx context.Context, dsn string, n int) (durations, error) {
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		return nil, err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	var d durations
	for range n {
		start := time.Now()
		if _, err := conn.Exec(ctx, "SELECT 1"); err != nil {
			return nil, err
		}
		d = append(d, time.Since(start))
	}
	return d, nil
}

// stageFarLongs starts farLongs statements sleeping for a minute at
// most; stop cancels them and closes their connections.
func stageFarLongs(ctx context.Context, dsn string) (stop func(), err error) {
	var conns []*pgx.Conn
	var wg sync.WaitGroup
	stop = func() {
		if ctl, err := pgx.Connect(context.WithoutCancel(ctx), dsn); err == nil {
			_, _ = ctl.Exec(context.WithoutCancel(ctx), "SELECT pg_cancel_backend(pid) FROM pg_stat_activity WHERE application_name = $1", farLongApp)
			ctl.Close(context.WithoutCancel(ctx))
		}
		wg.Wait()
		for _, c := range conns {
			c.Close(context.WithoutCancel(ctx))
		}
	}
	for range farLongs {
		c, err := pgx.Connect(ctx, dsn+" application_name="+farLongApp)
		if err != nil {
			stop()
			return nil, err
		}
		conns = append(conns, c)
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, _ = c.Exec(context.WithoutCancel(ctx), "SELECT pg_sleep(60)")
		}()
	}
	// Wait until the server shows them all running.
	ctl, err := pgx.Connect(ctx, dsn)
	if err != nil {
		stop()
		return nil, err
	}
	defer ctl.Close(context.WithoutCancel(ctx))
	for deadline := time.Now().Add(10 * time.Second); ; {
		var n int
		if err := ctl.QueryRow(ctx, "SELECT count(*) FROM pg_stat_activity WHERE application_name = $1 AND state = 'active'", farLongApp).Scan(&n); err != nil {
			stop()
			return nil, err
		}
		if n == farLongs {
			return stop, nil
		}
		if time.Now().After(deadline) {
			stop()
			return nil, fmt.Errorf("only %d of %d far-link statements started", n, farLongs)
		}
		if err := pause(ctx, 10*time.Millisecond); err != nil {
			stop()
			return nil, err
		}
	}
}
