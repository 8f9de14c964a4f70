package incident

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/pgrunbook/pgrunbook/internal/pg/pgtest"
	"github.com/pgrunbook/pgrunbook/internal/sandbox"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

// newDB creates a database for one test and returns its DSN and a control
// connection to it.
func newDB(t *testing.T) (string, *pgx.Conn) {
	t.Helper()
	db := pgtest.CreateDatabase(t, "incident")
	return pgtest.DSNFor(db), pgtest.ConnectTo(t, db)
}

func sqlstate(err error) string {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		return pgErr.Code
	}
	return ""
}

func signalBackend(t *testing.T, ctl *pgx.Conn, fn string, pid int) {
	t.Helper()
	var ok bool
	if err := ctl.QueryRow(context.Background(), "SELECT "+fn+"($1)", pid).Scan(&ok); err != nil || !ok {
		t.Fatalf("%s(%d) = %v, %v", fn, pid, ok, err)
	}
}

func state(t *testing.T, ctl *pgx.Conn, pid int) string {
	t.Helper()
	var st string
	err := ctl.QueryRow(context.Background(), "SELECT coalesce(state, '') FROM pg_stat_activity WHERE pid = $1", pid).Scan(&st)
	if errors.Is(err, pgx.ErrNoRows) {
		return "gone"
	}
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// staysFor checks problem continuously for d and fails the test at the
// first moment it reports one: how a test shows that something does not
// happen, without sleeping through the window and looking once at its
// end.
func staysFor(t *testing.T, d time.Duration, problem func() string) {
	t.Helper()
	ticker := time.NewTicker(10 * time.Millisecond)
	defer ticker.Stop()
	end := time.After(d)
	for {
		if p := problem(); p != "" {
			t.Fatal(p)
		}
		select {
		case <-end:
			return
		case <-ticker.C:
		}
	}
}

func TestLongQueryCancel(t *testing.T) {
	t.Parallel()
	ctx := pgtest.Context(t)
	dsn, ctl := newDB(t)

	s, err := LongQuery(ctx, dsn, "it-long-cancel", time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	if s.PID == 0 || s.BackendStart.IsZero() || s.App != "it-long-cancel" || s.Query != "SELECT pg_sleep(60)" {
		t.Fatalf("unexpected session %+v", s)
	}
	var app, query string
	err = ctl.QueryRow(ctx, "SELECT application_name, query FROM pg_stat_activity WHERE pid = $1 AND state = 'active'", s.PID).Scan(&app, &query)
	if err != nil {
		t.Fatalf("running query not visible: %v", err)
	}
	if app != s.App || query != s.Query {
		t.Errorf("pg_stat_activity shows %q / %q", app, query)
	}

	signalBackend(t, ctl, "pg_cancel_backend", s.PID)
	pgtest.WaitDone(t, s, s.App)
	if got := sqlstate(s.Err()); got != "57014" {
		t.Fatalf("Err() = %v (SQLSTATE %q), want query_canceled 57014", s.Err(), got)
	}
	if !s.Alive(ctx) {
		t.Error("session not alive after its query was cancelled")
	}
}

func TestLongQueryTerminate(t *testing.T) {
	t.Parallel()
	ctx := pgtest.Context(t)
	dsn, ctl := newDB(t)

	s, err := LongQuery(ctx, dsn, "it-long-terminate", time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	signalBackend(t, ctl, "pg_terminate_backend", s.PID)
	pgtest.WaitDone(t, s, s.App)
	if s.Err() == nil {
		t.Fatal("Err() = nil after pg_terminate_backend")
	}
	if got := sqlstate(s.Err()); got != "57P01" {
		t.Errorf("Err() = %v (SQLSTATE %q), want admin_shutdown 57P01", s.Err(), got)
	}
	if s.Alive(ctx) {
		t.Error("session alive after pg_terminate_backend")
	}
}

func TestStubbornQuery(t *testing.T) {
	t.Parallel()
	ctx := pgtest.Context(t)
	dsn, ctl := newDB(t)

	s, err := StubbornQuery(ctx, dsn, "it-stubborn", time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)

	signalBackend(t, ctl, "pg_cancel_backend", s.PID)
	// A cancel acts within milliseconds: watched without a pause for a
	// second, the statement never ends and the session stays active.
	staysFor(t, time.Second, func() string {
		select {
		case <-s.Done():
			return "stubborn query ended after pg_cancel_backend: " + s.Err().Error()
		default:
		}
		if st := state(t, ctl, s.PID); st != "active" {
			return "stubborn session state " + st + " after cancel, want active"
		}
		return ""
	})

	signalBackend(t, ctl, "pg_terminate_backend", s.PID)
	pgtest.WaitDone(t, s, s.App)
	if got := sqlstate(s.Err()); got != "57P01" {
		t.Errorf("Err() = %v (SQLSTATE %q), want 57P01", s.Err(), got)
	}
	if s.Alive(ctx) {
		t.Error("stubborn session alive after pg_terminate_backend")
	}
}

func TestWriterBehindIdleInTransaction(t *testing.T) {
	t.Parallel()
	ctx := pgtest.Context(t)
	dsn, ctl := newDB(t)

	if err := CreateLockTable(ctx, dsn, "public.locks", 5); err != nil {
		t.Fatal(err)
	}
	if err := CreateLockTable(ctx, dsn, "locks", 5); err != nil {
		t.Fatalf("CreateLockTable is not idempotent: %v", err)
	}
	var rows int
	if err := ctl.QueryRow(ctx, "SELECT count(*) FROM locks").Scan(&rows); err != nil || rows != 5 {
		t.Fatalf("locks has %d rows (%v), want 5", rows, err)
	}

	holder, err := IdleInTransaction(ctx, dsn, "it-holder", "locks", 3)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(holder.Close)
	if st := state(t, ctl, holder.PID); st != "idle in transaction" {
		t.Fatalf("holder state %q", st)
	}

	writer, err := Writer(ctx, dsn, "it-writer", "locks", 3)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(writer.Close)
	var blockers []int
	if err := ctl.QueryRow(ctx, "SELECT pg_blocking_pids($1)", writer.PID).Scan(&blockers); err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(blockers, holder.PID) {
		t.Fatalf("writer %d blocked by %v, want holder %d among them", writer.PID, blockers, holder.PID)
	}
	select {
	case <-writer.Done():
		t.Fatalf("writer finished while the row was locked: %v", writer.Err())
	default:
	}

	signalBackend(t, ctl, "pg_terminate_backend", holder.PID)
	pgtest.WaitDone(t, writer, writer.App)
	if err := writer.Err(); err != nil {
		t.Fatalf("writer did not commit: %v", err)
	}
	var n int
	if err := ctl.QueryRow(ctx, "SELECT n FROM locks WHERE id = 3").Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != 1 {
		t.Errorf("n = %d, want 1 (holder rolled back, writer committed)", n)
	}
	if holder.Alive(ctx) {
		t.Error("terminated holder still alive")
	}
	if !writer.Alive(ctx) {
		t.Error("writer not alive after committing")
	}
}

func TestWriterWithoutBlockerFails(t *testing.T) {
	t.Parallel()
	ctx := pgtest.Context(t)
	dsn, _ := newDB(t)
	if err := CreateLockTable(ctx, dsn, "locks", 1); err != nil {
		t.Fatal(err)
	}
	if s, err := Writer(ctx, dsn, "it-free-writer", "locks", 1); err == nil {
		s.Close()
		t.Fatal("Writer succeeded although nothing blocks the row")
	}
	if s, err := IdleInTransaction(ctx, dsn, "it-missing-row", "locks", 99); err == nil {
		s.Close()
		t.Fatal("IdleInTransaction succeeded on a missing row")
	}
}

func TestIdleAndClose(t *testing.T) {
	t.Parallel()
	ctx := pgtest.Context(t)
	dsn, ctl := newDB(t)

	idle, err := Idle(ctx, dsn, "it-idle")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(idle.Close)
	select {
	case <-idle.Done():
	default:
		t.Fatal("Done of an idle session is not closed")
	}
	if !idle.Alive(ctx) {
		t.Fatal("idle session not alive")
	}
	if st := state(t, ctl, idle.PID); st != "idle" {
		t.Errorf("idle session state %q", st)
	}
	idle.Close()
	idle.Close() // idempotent
	pgtest.WaitGone(t, ctx, ctl, idle.PID)

	// Closing a session whose statement is still running must not leave
	// the backend sleeping on the server.
	busy, err := StubbornQuery(ctx, dsn, "it-close-busy", time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	busy.Close()
	pgtest.WaitGone(t, ctx, ctl, busy.PID)
}

// pgbenchCommand returns a function building pgbench commands for the test
// server.
func pgbenchCommand(t *testing.T) func(ctx context.Context, args ...string) *exec.Cmd {
	t.Helper()
	if c := pgtest.Cluster(); c != nil {
		return func(ctx context.Context, args ...string) *exec.Cmd {
			return c.Command(ctx, "pgbench", args...)
		}
	}
	bin, err := sandbox.FindBinDir("")
	if err != nil {
		t.Fatal(err)
	}
	return func(ctx context.Context, args ...string) *exec.Cmd {
		return exec.CommandContext(ctx, filepath.Join(bin, "pgbench"), args...)
	}
}

func TestPgbench(t *testing.T) {
	t.Parallel()
	ctx := pgtest.Context(t)
	db := pgtest.CreateDatabase(t, "pgbench")
	dsn := pgtest.DSNFor(db)
	ctl := pgtest.ConnectTo(t, db)
	command := pgbenchCommand(t)
	// With a sandbox cluster the environment already points at the
	// server; a connection string as database works in both cases.
	if err := InitPgbench(ctx, command(ctx, PgbenchInitArgs(1, dsn)...)); err != nil {
		t.Fatal(err)
	}

	t.Run("completes", func(t *testing.T) {
		p, err := StartPgbench(ctx, command(ctx, PgbenchRun{Clients: 2, Threads: 4, Transactions: 20, Database: dsn}.Args()...))
		if err != nil {
			t.Fatal(err)
		}
		sum, err := p.Wait()
		if err != nil {
			t.Fatal(err)
		}
		want := PgbenchSummary{Clients: 2, Threads: 2, Processed: 40}
		if sum.Clients != want.Clients || sum.Threads != want.Threads || sum.Processed != want.Processed ||
			sum.Failed != 0 || sum.Aborted != 0 || sum.ExitCode != 0 || sum.Incomplete || sum.TPS <= 0 {
			t.Errorf("summary %+v, want %+v with TPS > 0", sum, want)
		}
	})

	t.Run("clients aborted", func(t *testing.T) {
		// Far longer than the test: only the terminations end it.
		run := PgbenchRun{Clients: 4, Threads: 2, Duration: 10 * time.Minute, Rate: 200, Database: dsn}
		p, err := StartPgbench(ctx, command(ctx, run.Args()...))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(p.Stop)
		pids, err := WaitForBackends(ctx, dsn, PgbenchApp, 4)
		if err != nil {
			t.Fatal(err)
		}
		// pgbench's short-lived setup connection may be among the first
		// pids and gone by now: the four clients must still be there.
		if again, err := BackendPIDs(ctx, dsn, PgbenchApp); err != nil || len(again) < 4 {
			t.Errorf("BackendPIDs = %v, %v; want the 4 clients WaitForBackends saw among %v", again, err, pids)
		}
		// pids may include pgbench's short-lived setup connection while a
		// client is still connecting, so keep terminating every pgbench
		// backend of the database until pgbench gives up.
		for done := false; !done; {
			if _, err := ctl.Exec(ctx, `SELECT pg_terminate_backend(pid) FROM pg_stat_activity
				WHERE application_name = $1 AND datname = current_database() AND pid <> pg_backend_pid()`, PgbenchApp); err != nil {
				t.Fatal(err)
			}
			select {
			case <-p.Done():
				done = true
			case <-time.After(50 * time.Millisecond):
			}
		}
		sum, err := p.Wait()
		if err != nil {
			stdout, stderr := p.Output()
			t.Fatalf("Wait: %v\nstdout:\n%s\nstderr:\n%s", err, stdout, stderr)
		}
		if sum.Clients != 4 || sum.Aborted != 4 || sum.Failed != 0 || sum.ExitCode != 2 || !sum.Incomplete {
			t.Errorf("summary %+v, want 4 clients all aborted, exit code 2", sum)
		}
	})
}
