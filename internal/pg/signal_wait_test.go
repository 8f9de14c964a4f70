package pg

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/pgrunbook/pgrunbook/internal/activity"
	"github.com/pgrunbook/pgrunbook/internal/incident"
	"github.com/pgrunbook/pgrunbook/internal/pg/pgtest"
)

// A terminate with WaitFor returns, on PostgreSQL 14 and later, only once
// the backend has exited: it is absent from pg_stat_activity as soon as
// Signal returns, without polling. On 13 WaitFor is ignored.
func TestSignalTerminateWaitsForExit(t *testing.T) {
	t.Parallel()
	ctx := pgtest.Context(t)
	db := newDB(t, "pg_sig_waitfor")
	lq := pgtest.Staged[*incident.Session](t)(incident.LongQuery(ctx, db.dsn, "pgrb-wait-for-me", longQuery))
	idle := pgtest.Staged[*incident.Session](t)(incident.Idle(ctx, db.dsn, "pgrb-wait-for-me-idle"))
	c := connectClient(t, ctx, Options{DSN: db.dsn})
	snap := snapshot(t, ctx, c)
	var targets []activity.SignalTarget
	for _, pid := range []int{lq.PID, idle.PID} {
		tg := target(mustRow(t, snap, pid, "a session to end"), false)
		tg.WaitFor = 20 * time.Second
		targets = append(targets, tg)
	}

	res := signal(t, ctx, c, activity.Terminate, targets)
	wantOutcome(t, "terminate the long query with a wait", res[0], lq.PID, activity.Signalled)
	wantOutcome(t, "terminate the idle session with a wait", res[1], idle.PID, activity.Signalled)
	if c.Info().VersionNum < 140000 {
		pgtest.WaitGone(t, ctx, db.ctl, lq.PID)
		pgtest.WaitGone(t, ctx, db.ctl, idle.PID)
		return
	}
	for _, r := range res {
		if r.Message != "" {
			t.Errorf("pid %d: message %q after a wait that ended with the backend's exit", r.PID, r.Message)
		}
	}
	var left int
	if err := db.ctl.QueryRow(ctx, "SELECT count(*) FROM pg_stat_activity WHERE pid = ANY($1)", []int{lq.PID, idle.PID}).Scan(&left); err != nil {
		t.Fatal(err)
	}
	if left != 0 {
		t.Errorf("%d of the terminated backends still in pg_stat_activity right after Signal returned", left)
	}
}

// stageStuck starts a session whose statement does not answer a
// terminate for about d: COPY FROM PROGRAM blocks in a read from the
// program, where the backend does not handle interrupts, and the program
// ignores the SIGTERM that pg_terminate_backend sends to the backend's
// whole process group.
func stageStuck(t *testing.T, ctx context.Context, db testDB, d time.Duration) *rawSession {
	t.Helper()
	if _, err := db.ctl.Exec(ctx, "CREATE TABLE IF NOT EXISTS stuck (line text)"); err != nil {
		t.Fatal(err)
	}
	// The program says when it ignores SIGTERM by creating a file: until
	// then a terminate would end it, and with it the COPY. The server runs
	// it as its own user, so the directory is open to every user.
	dir, err := os.MkdirTemp("", "pgrb-stuck-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o777); err != nil {
		t.Fatal(err)
	}
	ready := filepath.Join(dir, "ready")
	s := openSession(t, ctx, db.dsn, "pgrb-stuck")
	// The duration and the path are the test's own, not input.
	s.start(fmt.Sprintf("COPY stuck FROM PROGRAM 'trap \"\" TERM; touch %s; sleep %d'", ready, int(d.Seconds())))
	awaitActive(t, ctx, db.ctl, s, "")
	deadline := time.Now().Add(30 * time.Second)
	for {
		if _, err := os.Stat(ready); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the COPY's program never got ready to ignore SIGTERM")
		}
		time.Sleep(10 * time.Millisecond)
	}
	return s
}

// A wait that runs out is still a sent signal: the outcome is signalled,
// with a message, and the backend is still there.
func TestSignalTerminateWaitRunsOut(t *testing.T) {
	t.Parallel()
	ctx := pgtest.Context(t)
	db := newDB(t, "pg_sig_waitout")
	stuck := stageStuck(t, ctx, db, 5*time.Second)
	c := connectClient(t, ctx, Options{DSN: db.dsn})
	tg := target(mustRow(t, snapshot(t, ctx, c), stuck.pid, "the stuck session"), false)
	tg.WaitFor = 200 * time.Millisecond

	res := signal(t, ctx, c, activity.Terminate, []activity.SignalTarget{tg})
	wantOutcome(t, "terminate with a wait that runs out", res[0], stuck.pid, activity.Signalled)
	if c.Info().VersionNum >= 140000 {
		if res[0].Message == "" {
			t.Error("a wait that ran out left no message")
		}
		if !inActivity(t, ctx, db.ctl, stuck.pid) {
			t.Error("the stuck backend is gone, so the wait did not run out: the test proves nothing")
		}
		// The signal was sent, so it leaves its server log line too.
		if cl := pgtest.Cluster(); cl != nil {
			awaitLogLine(t, cl.LogFile, fmt.Sprintf("pgrunbook: pg_terminate_backend pid=%d ", stuck.pid))
		}
	}
	pgtest.WaitGone(t, ctx, db.ctl, stuck.pid)
}

// awaitLogLine polls the server log, for at most 20 seconds, until a line
// contains want (the server writes its log asynchronously).
func awaitLogLine(t *testing.T, logFile, want string) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		data, _ := os.ReadFile(logFile)
		if strings.Contains(string(data), want) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("no server log line contains %q", want)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// The waits of one statement never take more than half its
// statement_timeout: a wait longer than that is cut short instead of the
// statement failing after it has signalled.
func TestSignalTerminateWaitBoundedByStatementTimeout(t *testing.T) {
	t.Parallel()
	ctx := pgtest.Context(t)
	db := newDB(t, "pg_sig_waitcap")
	stuck := stageStuck(t, ctx, db, 5*time.Second)
	c := connectClient(t, ctx, Options{DSN: db.dsn, StatementTimeout: 2 * time.Second})
	tg := target(mustRow(t, snapshot(t, ctx, c), stuck.pid, "the stuck session"), false)
	tg.WaitFor = 30 * time.Second

	res, err := c.Signal(ctx, activity.Terminate, []activity.SignalTarget{tg}, nil)
	if err != nil {
		t.Fatalf("Signal with a wait beyond statement_timeout: %v (SQLSTATE %s)", err, SQLState(err))
	}
	wantOutcome(t, "terminate with a wait cut to the statement's budget", res[0], stuck.pid, activity.Signalled)
	if c.Info().VersionNum >= 140000 && res[0].Message == "" {
		t.Error("the cut wait ran out before the backend exited, yet there is no message")
	}
	pgtest.WaitGone(t, ctx, db.ctl, stuck.pid)
}

// inActivity reports whether pid is in pg_stat_activity now.
func inActivity(t *testing.T, ctx context.Context, ctl *pgx.Conn, pid int) bool {
	t.Helper()
	var n int
	if err := ctl.QueryRow(ctx, "SELECT count(*) FROM pg_stat_activity WHERE pid = $1", pid).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n > 0
}
