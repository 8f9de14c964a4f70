package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/pgrunbook/pgrunbook/internal/activity"
	"github.com/pgrunbook/pgrunbook/internal/pg/incident"
)

// Application names of the staged sessions, as pg_stat_activity shows them.
const (
	appReport    = "reporting"
	appStubborn  = "etl"
	appRoot      = "forgot-to-commit"
	appWriter1   = "checkout-1"
	appWriter2   = "checkout-2"
	appBystander = "bystander"
)

// SQLSTATEs the staged statements end with.
const (
	sqlstateQueryCanceled = "57014" // after pg_cancel_backend
	sqlstateAdminShutdown = "57P01" // after pg_terminate_backend
)

// staged is the incident: three culprits, two victims, one bystander, and
// the pgbench backends that must not be touched.
type staged struct {
	report    *incident.Session // long report query: cancel
	stubborn  *incident.Session // swallows cancel: terminate
	root      *incident.Session // idle in transaction holding a row lock: terminate
	writer1   *incident.Session // blocked writer: must commit
	writer2   *incident.Session // blocked writer behind writer1: must commit
	bystander *incident.Session // idle: must stay

	benchPIDs []int // pgbench's backends, read before staging
	// stagedAt is a moment at which every staged statement was already
	// running (or waiting).
	stagedAt time.Time
}

// stage opens the sessions of the incident. On error the sessions opened
// so far stay recorded, for close.
func (st *staged) stage(ctx context.Context, dsn string) error {
	var err error
	if st.report, err = incident.LongQuery(ctx, dsn, appReport, stagedFor); err != nil {
		return fmt.Errorf("stage the long report query: %w", err)
	}
	if st.stubborn, err = incident.StubbornQuery(ctx, dsn, appStubborn, stagedFor); err != nil {
		return fmt.Errorf("stage the query that ignores cancel: %w", err)
	}
	if st.root, err = incident.IdleInTransaction(ctx, dsn, appRoot, lockTable, 1); err != nil {
		return fmt.Errorf("stage the session idle in a transaction: %w", err)
	}
	if st.writer1, err = incident.Writer(ctx, dsn, appWriter1, lockTable, 1); err != nil {
		return fmt.Errorf("stage the first blocked writer: %w", err)
	}
	if st.writer2, err = incident.Writer(ctx, dsn, appWriter2, lockTable, 1); err != nil {
		return fmt.Errorf("stage the second blocked writer: %w", err)
	}
	st.stagedAt = time.Now()
	if st.bystander, err = incident.Idle(ctx, dsn, appBystander); err != nil {
		return fmt.Errorf("stage the bystander: %w", err)
	}
	return nil
}

// sessions returns the staged sessions that exist, culprits first.
func (st *staged) sessions() []*incident.Session {
	var all []*incident.Session
	for _, s := range []*incident.Session{st.report, st.stubborn, st.root, st.writer1, st.writer2, st.bystander} {
		if s != nil {
			all = append(all, s)
		}
	}
	return all
}

// culprits returns the pids the playbooks are meant to signal.
func (st *staged) culprits() []int {
	return []int{st.report.PID, st.stubborn.PID, st.root.PID}
}

// close ends every staged session (terminating any whose statement still
// runs) and returns how many there were.
func (st *staged) close() int {
	all := st.sessions()
	for _, s := range all {
		s.Close()
	}
	return len(all)
}

// print lists what was staged.
func (st *staged) print(out io.Writer) {
	row := func(s *incident.Session, what, expect string) {
		fmt.Fprintf(out, "  %-8d %-17s %s\n  %-8s %-17s   → %s\n", s.PID, s.App, what, "", "", expect)
	}
	fmt.Fprintf(out, "  %-8s %-17s %s\n", "pid", "application", "staged as")
	row(st.report, "long report query: "+st.report.Query, "culprit: cancel the statement, keep the session")
	row(st.stubborn, "DO block sleeping in a loop that catches query_canceled", "culprit: ignores its cancel, so terminate it")
	row(st.root, "idle in transaction after "+st.root.Query, "culprit: holds the row lock; terminate it (cancel cannot help)")
	row(st.writer1, st.writer1.Query+", waiting on that lock", "victim: must commit once the lock is released")
	row(st.writer2, "the same UPDATE, queued behind "+appWriter1, "victim: must commit once the lock is released")
	row(st.bystander, "idle", "must not be touched")
	fmt.Fprintf(out, "  pgbench  %d sessions, pids %s\n", len(st.benchPIDs), joinPIDs(st.benchPIDs))
	fmt.Fprintf(out, "  %-8s %-17s   → %s\n", "", "", "load: must not be touched, no client may abort")
}

// checkLive checks, on the running server and in the transcripts, what
// the playbooks did to every staged session and to pgbench's backends.
// pgbench must still be running. The error is non-nil only when the
// checks themselves could not be made.
func (st *staged) checkLive(ctx context.Context, dsn string, bench *incident.Pgbench, runs []playbookRun, card *scorecard) error {
	var paths []string
	for _, r := range runs {
		card.add(r.Result.ExitCode == 0, "playbook %s: %s, exit code %d%s", r.Name, r.Result.Outcome, r.Result.ExitCode, suffix(r.Result.Message))
		paths = append(paths, r.Transcript)
	}
	sigs, err := readSignals(paths)
	if err != nil {
		return err
	}

	// Let the clients of the staged sessions see how their statements
	// ended before looking at the server.
	settled := settle(ctx, st.report, st.stubborn, st.writer1, st.writer2)
	live, err := liveSessions(ctx, dsn)
	if err != nil {
		return err
	}

	// The long report query: cancelled, session kept.
	r := st.report
	card.add(settled[r] && sqlstate(r.Err()) == sqlstateQueryCanceled &&
		sigs.signalled(r.PID, activity.Cancel) && !sigs.signalled(r.PID, activity.Terminate) &&
		live[r.PID].Equal(r.BackendStart) && r.Alive(ctx),
		"%s (pid %d): statement cancelled (%s); session still connected: %s",
		r.App, r.PID, endedWith(r, settled[r]), yesNo(live[r.PID].Equal(r.BackendStart)))

	// The stubborn query: cancel ignored, then terminated.
	s := st.stubborn
	_, stubbornLeft := live[s.PID]
	card.add(settled[s] && sigs.signalled(s.PID, activity.Cancel) && sigs.verifyFailed[s.PID] &&
		sigs.signalled(s.PID, activity.Terminate) && !stubbornLeft,
		"%s (pid %d): cancel sent %s, ignored %s, then terminated %s (%s); session gone: %s",
		s.App, s.PID, yesNo(sigs.signalled(s.PID, activity.Cancel)), yesNo(sigs.verifyFailed[s.PID]),
		yesNo(sigs.signalled(s.PID, activity.Terminate)), endedWith(s, settled[s]), yesNo(!stubbornLeft))

	// The idle transaction: terminated, lock released.
	rt := st.root
	_, rootLeft := live[rt.PID]
	card.add(sigs.signalled(rt.PID, activity.Terminate) && !sigs.signalled(rt.PID, activity.Cancel) && !rootLeft && !rt.Alive(ctx),
		"%s (pid %d): terminated %s, never cancelled; session gone, transaction rolled back: %s",
		rt.App, rt.PID, yesNo(sigs.signalled(rt.PID, activity.Terminate)), yesNo(!rootLeft))

	// The writers: both committed.
	for _, w := range []*incident.Session{st.writer1, st.writer2} {
		card.add(settled[w] && w.Err() == nil && len(sigs.actions[w.PID]) == 0,
			"%s (pid %d): its UPDATE %s; not signalled: %s", w.App, w.PID, endedWith(w, settled[w]), yesNo(len(sigs.actions[w.PID]) == 0))
	}
	n, err := lockedRowValue(ctx, dsn)
	if err != nil {
		return err
	}
	card.add(n == 2, "%s row 1: n = %d (2 = both writers committed, the idle transaction's update rolled back)", lockTable, n)

	// The bystander: same session, untouched.
	b := st.bystander
	card.add(live[b.PID].Equal(b.BackendStart) && len(sigs.actions[b.PID]) == 0 && b.Alive(ctx),
		"%s (pid %d): still connected with the same pid and backend_start: %s; not signalled: %s",
		b.App, b.PID, yesNo(live[b.PID].Equal(b.BackendStart)), yesNo(len(sigs.actions[b.PID]) == 0))

	// pgbench: the same backends, none signalled. Checked while it runs.
	select {
	case <-bench.Done():
		card.add(false, "pgbench finished before the playbooks and checks did: its backends could not be compared (raise the load duration)")
	default:
		after, err := incident.BackendPIDs(ctx, dsn, incident.PgbenchApp)
		if err != nil {
			return err
		}
		var touched []int
		for _, pid := range st.benchPIDs {
			if len(sigs.actions[pid]) > 0 {
				touched = append(touched, pid)
			}
		}
		same := slices.Equal(after, st.benchPIDs)
		detail := "unchanged"
		if !same {
			detail = fmt.Sprintf("CHANGED: before %s, after %s", joinPIDs(st.benchPIDs), joinPIDs(after))
		}
		card.add(same && len(touched) == 0, "pgbench backends: %d pids %s; signalled: %s", len(after), detail, pidsOrNone(touched))
	}

	// Nothing but the culprits was signalled, by either playbook.
	var collateral []int
	sent := 0
	for pid, acts := range sigs.actions {
		for _, a := range acts {
			if a.Outcome == string(activity.Signalled) {
				sent++
			}
		}
		if !slices.Contains(st.culprits(), pid) {
			collateral = append(collateral, pid)
		}
	}
	slices.Sort(collateral)
	card.add(len(collateral) == 0, "signals sent: %d, all to the 3 culprits; any other pid targeted: %s", sent, pidsOrNone(collateral))
	return nil
}

// checkPgbench waits for pgbench's report and checks that no client
// aborted.
func checkPgbench(bench *incident.Pgbench, card *scorecard) {
	sum, err := bench.Wait()
	if err != nil {
		card.add(false, "pgbench printed no report: %v", err)
		return
	}
	card.add(sum.Aborted == 0 && sum.ExitCode == 0 && !sum.Incomplete,
		"pgbench: %d of %d clients aborted, exit code %d (%d transactions, %.0f tps)",
		sum.Aborted, sum.Clients, sum.ExitCode, sum.Processed, sum.TPS)
}

// settle waits, up to settleTimeout in all, for the background statements
// of sessions to end, and reports which did.
func settle(ctx context.Context, sessions ...*incident.Session) map[*incident.Session]bool {
	deadline := time.NewTimer(settleTimeout)
	defer deadline.Stop()
	done := map[*incident.Session]bool{}
	for _, s := range sessions {
		select {
		case <-s.Done():
			done[s] = true
		case <-deadline.C:
			return done
		case <-ctx.Done():
			return done
		}
	}
	return done
}

// liveSessions returns pid → backend_start of the client backends now in
// pg_stat_activity.
func liveSessions(ctx context.Context, dsn string) (map[int]time.Time, error) {
	conn, err := connectCheck(ctx, dsn)
	if err != nil {
		return nil, err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	rows, err := conn.Query(ctx, `SELECT pid, backend_start FROM pg_stat_activity WHERE backend_type = 'client backend'`)
	if err != nil {
		return nil, fmt.Errorf("read pg_stat_activity: %w", err)
	}
	live := map[int]time.Time{}
	var pid int
	var start time.Time
	_, err = pgx.ForEachRow(rows, []any{&pid, &start}, func() error {
		live[pid] = start
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("read pg_stat_activity: %w", err)
	}
	return live, nil
}

// lockedRowValue reads the counter of the contended row.
func lockedRowValue(ctx context.Context, dsn string) (int, error) {
	conn, err := connectCheck(ctx, dsn)
	if err != nil {
		return 0, err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	var n int
	err = conn.QueryRow(ctx, "SELECT n FROM "+pgx.Identifier{lockTable}.Sanitize()+" WHERE id = 1").Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("read %s row 1: %w", lockTable, err)
	}
	return n, nil
}

// sqlstate returns the SQLSTATE of a server error, or "".
func sqlstate(err error) string {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		return pgErr.Code
	}
	return ""
}

// endedWith says how a session's background statement ended.
func endedWith(s *incident.Session, done bool) string {
	if !done {
		return "still running"
	}
	err := s.Err()
	switch code := sqlstate(err); {
	case err == nil:
		return "committed"
	case code == sqlstateQueryCanceled:
		return "SQLSTATE 57014, canceled"
	case code == sqlstateAdminShutdown:
		return "SQLSTATE 57P01, terminated"
	case code != "":
		return "SQLSTATE " + code
	default:
		return "error: " + err.Error()
	}
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "NO"
}

func suffix(msg string) string {
	if msg == "" {
		return ""
	}
	return " (" + msg + ")"
}

func joinPIDs(pids []int) string {
	parts := make([]string, len(pids))
	for i, p := range pids {
		parts[i] = fmt.Sprint(p)
	}
	return strings.Join(parts, " ")
}

func pidsOrNone(pids []int) string {
	if len(pids) == 0 {
		return "none"
	}
	return joinPIDs(pids)
}
