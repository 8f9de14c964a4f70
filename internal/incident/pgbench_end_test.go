//go:build unix

package incident

import (
	"testing"
	"time"

	"github.com/pgrunbook/pgrunbook/internal/pg/pgtest"
)

// TestPgbenchEndRun ends an hour-long pgbench run early and gets its full
// report.
func TestPgbenchEndRun(t *testing.T) {
	t.Parallel()
	ctx := pgtest.Context(t)
	db := pgtest.CreateDatabase(t, "pgbench_end")
	dsn := pgtest.DSNFor(db)
	command := pgbenchCommand(t)
	if err := InitPgbench(ctx, command(ctx, PgbenchInitArgs(1, dsn)...)); err != nil {
		t.Fatal(err)
	}
	run := PgbenchRun{Clients: 2, Threads: 2, Duration: time.Hour, Rate: 50, Database: dsn}
	p, err := StartPgbench(ctx, command(ctx, run.Args()...))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Stop)
	if _, err := WaitForBackends(ctx, dsn, PgbenchApp, 2); err != nil {
		t.Fatal(err)
	}
	// pgbench installs its SIGALRM handler when its clients start running;
	// a signal before that would kill it. Wait for committed transactions.
	ctl := pgtest.ConnectTo(t, db)
	for deadline := time.Now().Add(20 * time.Second); ; {
		var n int
		if err := ctl.QueryRow(ctx, "SELECT count(*) FROM pgbench_history").Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("pgbench committed no transaction")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err := p.EndRun(); err != nil {
		t.Fatal(err)
	}
	sum, err := p.Wait()
	if err != nil {
		stdout, stderr := p.Output()
		t.Fatalf("Wait: %v\nstdout:\n%s\nstderr:\n%s", err, stdout, stderr)
	}
	if sum.Clients != 2 || sum.Aborted != 0 || sum.Failed != 0 || sum.ExitCode != 0 || sum.Incomplete {
		t.Errorf("summary %+v, want a complete report of 2 clients, none aborted", sum)
	}
	if err := p.EndRun(); err != nil {
		t.Errorf("EndRun after the run ended: %v", err)
	}
}
