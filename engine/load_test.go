package engine_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/pgrunbook/pgrunbook/internal/incident"
	"github.com/pgrunbook/pgrunbook/internal/pg/pgtest"
)

// pgbenchLoad is pgbench traffic running beside a scenario, to prove that
// runs never touch its clients.
type pgbenchLoad struct {
	bench  *incident.Pgbench
	dsn    string
	before []int
}

// loadRun is how long pgbench would run: far longer than any test, which
// ends it with EndRun once its check is done.
const loadRun = 10 * time.Minute

// startLoad initialises pgbench tables in db and starts clients that run
// until check ends them, rate-limited so that every statement is short.
func startLoad(t *testing.T, db string, clients int) *pgbenchLoad {
	t.Helper()
	ctx := context.Background()
	c := pgtest.Cluster()
	if c == nil {
		t.Fatal("pgbench load needs the harness's own cluster (PGRUNBOOK_TEST_DSN is set)")
	}
	if err := incident.InitPgbench(ctx, c.Command(ctx, "pgbench", incident.PgbenchInitArgs(1, db)...)); err != nil {
		t.Fatal(err)
	}
	bench, err := incident.StartPgbench(ctx, c.Command(ctx, "pgbench",
		incident.PgbenchRun{Clients: clients, Threads: 2, Duration: loadRun, Rate: 100, Database: db}.Args()...))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(bench.Stop)
	dsn := pgtest.DSNFor(db)
	if _, err := incident.WaitForBackends(ctx, dsn, incident.PgbenchApp, clients); err != nil {
		t.Fatal(err)
	}
	// pgbench's short-lived setup connection shares the application name;
	// wait until only the clients remain.
	deadline := time.Now().Add(20 * time.Second)
	for {
		before, err := incident.BackendPIDs(ctx, dsn, incident.PgbenchApp)
		if err != nil {
			t.Fatal(err)
		}
		if len(before) == clients {
			return &pgbenchLoad{bench: bench, dsn: dsn, before: before}
		}
		if time.Now().After(deadline) {
			t.Fatalf("pgbench has %d backends, want %d", len(before), clients)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// check asserts that no pgbench client was signalled by the run or was
// disconnected, then ends the pgbench run and checks that no client
// aborted.
func (l *pgbenchLoad) check(t *testing.T, r run) {
	t.Helper()
	r.assertUntouched(t, "pgbench client", l.before...)
	after, err := incident.BackendPIDs(context.Background(), l.dsn, incident.PgbenchApp)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(l.before, after) {
		t.Errorf("pgbench backends changed:\nbefore %v\nafter  %v", l.before, after)
	}
	if err := l.bench.EndRun(); err != nil {
		t.Fatal(err)
	}
	summary, err := l.bench.Wait()
	if err != nil {
		t.Fatalf("pgbench: %v", err)
	}
	if summary.Aborted != 0 || summary.ExitCode != 0 {
		t.Errorf("pgbench: %d aborted clients, exit %d", summary.Aborted, summary.ExitCode)
	}
}
