package rehearse

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/pgrunbook/pgrunbook/internal/incident"
	"github.com/pgrunbook/pgrunbook/internal/sandbox"
)

// Load settings.
const (
	// DefaultClients is the command's default number of pgbench clients.
	DefaultClients = 8
	// MaxClients bounds --clients; the sandbox allows 300 connections.
	MaxClients = 100
	// ratePerClient is each client's share of the throttled rate (-R):
	// a modest load, whose backends are idle most of the time.
	ratePerClient = 10
	pgbenchScale  = 1
	// loadCap is pgbench's -T. The rehearsal ends the run itself
	// (incident.Pgbench.EndRun) when it has looked at everything; the cap
	// only bounds a load whose rehearsal was killed.
	loadCap = 24 * time.Hour
	// connectTimeout bounds the wait for pgbench's clients to connect.
	connectTimeout = 30 * time.Second
	// reportTimeout bounds the wait for pgbench's report once its run
	// was ended.
	reportTimeout = 15 * time.Second
	// stableFor is how long the set of pgbench backends must stay the
	// same before it is recorded: pgbench's own setup connection may
	// still be leaving while its clients arrive.
	stableFor = 100 * time.Millisecond
)

// load is pgbench running against the rehearsal database.
type load struct {
	clients int
	rate    int
	args    []string
	bench   *incident.Pgbench
	// before are pgbench's backends once all its clients connected.
	before []incident.Backend
}

// startLoad starts pgbench with clients clients and waits until they are
// all connected. The caller must stop it (l.bench.Stop) on every path,
// also when an error is returned with a non-nil load.
func startLoad(ctx context.Context, cluster *sandbox.Cluster, dsn string, clients int) (*load, error) {
	run := incident.PgbenchRun{
		Clients: clients, Threads: min(clients, 2), Duration: loadCap,
		Rate: float64(clients * ratePerClient), Database: Database,
	}
	l := &load{clients: clients, rate: clients * ratePerClient, args: run.Args()}
	cmd := cluster.Command(ctx, "pgbench", l.args...)
	ownProcessGroup(cmd)
	var err error
	if l.bench, err = incident.StartPgbench(ctx, cmd); err != nil {
		return nil, err
	}
	wctx, cancel := context.WithTimeout(ctx, connectTimeout)
	defer cancel()
	go func() {
		select {
		case <-l.bench.Done():
			cancel()
		case <-wctx.Done():
		}
	}()
	l.before, err = stableBackends(wctx, dsn, clients)
	if err != nil {
		select {
		case <-l.bench.Done():
			_, stderr := l.bench.Output()
			return l, fmt.Errorf("pgbench exited before its clients connected:\n%s", strings.TrimSpace(stderr))
		default:
		}
		if ctx.Err() != nil {
			return l, ctx.Err()
		}
		return l, fmt.Errorf("waiting for pgbench's %d clients: %w", clients, err)
	}
	return l, nil
}

// stableBackends waits until exactly n pgbench backends are connected and
// have stayed the same for stableFor, and returns them.
func stableBackends(ctx context.Context, dsn string, n int) ([]incident.Backend, error) {
	var last []incident.Backend
	var since time.Time
	ticker := time.NewTicker(20 * time.Millisecond)
	defer ticker.Stop()
	for {
		all, err := incident.ClientBackends(ctx, dsn)
		if err != nil && ctx.Err() == nil {
			return nil, err
		}
		now := pgbenchBackends(all)
		switch {
		case len(now) != n || !sameBackends(now, last):
			last, since = now, time.Now()
		case time.Since(since) >= stableFor:
			return now, nil
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("%d of %d connected: %w", len(last), n, ctx.Err())
		case <-ticker.C:
		}
	}
}

// pgbenchBackends picks pgbench's backends out of a list.
func pgbenchBackends(all []incident.Backend) []incident.Backend {
	var out []incident.Backend
	for _, b := range all {
		if b.ApplicationName == incident.PgbenchApp {
			out = append(out, b)
		}
	}
	return out
}

// sameBackends reports whether two lists name the same sessions (pid and
// backend_start), in the same order.
func sameBackends(a, b []incident.Backend) bool {
	return slices.EqualFunc(a, b, func(x, y incident.Backend) bool {
		return x.PID == y.PID && x.BackendStart.Equal(y.BackendStart)
	})
}

// finish ends the pgbench run and returns its report. A pgbench that
// prints no report in time is stopped.
func (l *load) finish() (incident.PgbenchSummary, error) {
	if err := l.bench.EndRun(); err != nil {
		l.bench.Stop()
		return incident.PgbenchSummary{}, err
	}
	t := time.NewTimer(reportTimeout)
	defer t.Stop()
	select {
	case <-l.bench.Done():
	case <-t.C:
		l.bench.Stop()
		return incident.PgbenchSummary{}, fmt.Errorf("pgbench did not print its report within %s of being asked to end; it was stopped", reportTimeout)
	}
	return l.bench.Wait()
}
