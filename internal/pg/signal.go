package pg

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/pgrunbook/pgrunbook/internal/activity"
	"github.com/pgrunbook/pgrunbook/internal/pg/pgsession"
)

// signalSQL signals a batch of targets in one statement. For each target
// it reads the server's backend status afresh and calls the function only
// when the pid still belongs to the same backend (backend_start), still
// runs the same statement (query_start) or transaction (xact_start) when
// asked, is of an allowed backend type and is not our own backend. It
// also predicts the server's permission check (permissionSQL), so that
// one refused target does not abort the whole batch.
//
// The status is read through the functions behind pg_stat_activity that
// look up one backend each (pg_stat_get_backend_pid and the like), not
// through the view: the view's function builds every column of every row
// (a client address alone is a getnameinfo call), several milliseconds at
// a thousand sessions, where these lookups cost microseconds. They are
// as fresh as the view (both read the status copied once per
// transaction), and they show the same values to the same role: each
// returns NULL where the view would not show the column. The backend type
// has no such function; it is the target's own, from the snapshot, which
// the identity check ties to the process.
//
// The first %s is permissionSQL, the second the WHEN clause that
// signals, one of the constants below; never input. $6 is each target's
// wait in milliseconds, read only by the terminate of PostgreSQL 14 and
// later (see terminateWaitWhen); $9 is each target's backend type.
const signalSQL = `WITH t AS (
    SELECT * FROM unnest($1::int[], $2::timestamptz[], $3::timestamptz[], $5::timestamptz[], $6::bigint[], $9::text[])
        AS t(pid, backend_start, query_start, xact_start, wait_ms, backend_type)
), a AS (
    SELECT a.pid, a.backend_start, a.query_start, a.xact_start, a.backend_type,
        %s AS refusal
    FROM (
        SELECT t.pid, pg_stat_get_backend_start(id) AS backend_start,
            pg_stat_get_backend_activity_start(id) AS query_start,
            pg_stat_get_backend_xact_start(id) AS xact_start,
            nullif(pg_stat_get_backend_userid(id), 0) AS usesysid, t.backend_type
        FROM pg_stat_get_backend_idset() id JOIN t ON t.pid = pg_stat_get_backend_pid(id)
    ) a
)
SELECT t.pid,
    CASE
    WHEN a.pid IS NULL THEN 'not_found'
    WHEN a.backend_start IS DISTINCT FROM t.backend_start
      OR (t.query_start IS NOT NULL AND a.query_start IS DISTINCT FROM t.query_start)
      OR (t.xact_start IS NOT NULL AND a.xact_start IS DISTINCT FROM t.xact_start)
      OR a.backend_type IS NULL OR NOT (a.backend_type = ANY($4::text[]))
      OR a.pid = pg_backend_pid() THEN 'changed'
    WHEN a.refusal IS NOT NULL THEN a.refusal
    %s
    ELSE 'not_found'
    END
FROM t LEFT JOIN a ON a.pid = t.pid`

// permissionSQL predicts PostgreSQL's permission check for signalling the
// backend of row a (its backend_type and usesysid) as the current role: NULL
// when the server will allow it, else why it will refuse (SQLSTATE 42501),
// as pg_cancel_backend and pg_terminate_backend decide it:
//
//   - A superuser may signal any backend.
//   - A backend of a superuser or of no role (usesysid NULL: server
//     processes, walsenders of no role, autovacuum workers) needs a
//     superuser; except that from PostgreSQL 18 on an autovacuum worker
//     needs privileges of the predefined role pg_signal_autovacuum_worker
//     instead. The autovacuum launcher stays superuser-only. Whether the
//     role exists decides, not the version number.
//   - Another role's backend needs privileges of that role or of
//     pg_signal_backend.
const permissionSQL = `CASE
        WHEN (SELECT r.rolsuper FROM pg_roles r WHERE r.rolname = current_user) THEN NULL
        WHEN a.usesysid IS NULL OR coalesce((SELECT r.rolsuper FROM pg_roles r WHERE r.oid = a.usesysid), true) THEN
            CASE
            WHEN a.backend_type IS DISTINCT FROM 'autovacuum worker'
              OR to_regrole('pg_signal_autovacuum_worker') IS NULL THEN 'denied_superuser'
            WHEN pg_has_role(to_regrole('pg_signal_autovacuum_worker')::oid, 'USAGE') THEN NULL
            ELSE 'denied_autovacuum'
            END
        WHEN pg_has_role(a.usesysid, 'USAGE') OR pg_has_role('pg_signal_backend', 'USAGE') THEN NULL
        ELSE 'denied_role'
        END`

// terminateWaitWhen calls pg_terminate_backend with a wait (PostgreSQL 14
// and later): up to the target's wait_ms, but never past half the
// session's statement_timeout since the statement started, so that the
// waits of a batch of slow backends cannot make the statement fail after
// it has signalled some of them. A wait of 0 signals without waiting.
// When the wait runs out the function returns false with a WARNING
// although the signal was sent: the outcome is 'signalled_not_exited',
// recorded as signalled with a message, and the verify that follows
// decides. (false with a wait also comes, without a signal, when the
// backend exited in the instant between the identity check and the call:
// it is then gone, which the verify sees as well.)
const terminateWaitWhen = `WHEN pg_terminate_backend(a.pid, CASE
        WHEN t.wait_ms IS NULL OR t.wait_ms <= 0 THEN 0
        WHEN (SELECT s.setting::bigint FROM pg_settings s WHERE s.name = 'statement_timeout') = 0 THEN t.wait_ms
        ELSE greatest(0, least(t.wait_ms,
            (SELECT s.setting::bigint FROM pg_settings s WHERE s.name = 'statement_timeout') / 2
            - (extract(epoch FROM clock_timestamp() - statement_timestamp()) * 1000)::bigint))
        END) THEN 'signalled'
    WHEN t.wait_ms > 0 THEN 'signalled_not_exited'`

// The statements that signal, each also keeping its audit lines
// (audit.go).
var (
	cancelSQL        = auditedSQL(fmt.Sprintf(signalSQL, permissionSQL, "WHEN "+string(activity.Cancel)+"(a.pid) THEN 'signalled'"))
	terminateSQL     = auditedSQL(fmt.Sprintf(signalSQL, permissionSQL, "WHEN "+string(activity.Terminate)+"(a.pid) THEN 'signalled'"))
	terminateWaitSQL = auditedSQL(fmt.Sprintf(signalSQL, permissionSQL, terminateWaitWhen))
)

// Signal sends fn to the targets, each only if its identity still holds,
// and returns one result per target in the order given. It costs one
// round trip for the whole batch; only if the server refuses the batch
// with a permission error (SQLSTATE 42501) that the statement did not
// predict does it fall back to one statement per target, so that each
// refusal is recorded for its own target and the others are still sent.
//
// A terminate target's WaitFor makes the statement wait, on PostgreSQL 14
// and later, for that backend to exit before it signals the next target
// (see terminateWaitWhen); before 14 it is ignored.
//
// backendTypes lists backend types that may be signalled besides "client
// backend", which always may.
func (c *Client) Signal(ctx context.Context, fn activity.Function, targets []activity.SignalTarget, backendTypes []string) ([]activity.SignalResult, error) {
	if len(targets) == 0 {
		return nil, nil
	}
	if c.conn.IsClosed() {
		// The connection died after the last statement (the audit
		// block of the last signals, say): nothing is sent now, and the
		// error says so, so that the engine reconnects and sends.
		return nil, &ConnectionLostError{Err: errors.New("the connection was already closed"), Unsent: true}
	}
	query := signalQuery(fn, c.info.VersionNum)
	if query == "" {
		return nil, fmt.Errorf("unknown signalling function %q", fn)
	}
	if !slices.Contains(backendTypes, activity.ClientBackend) {
		backendTypes = append(slices.Clip(backendTypes), activity.ClientBackend)
	}
	results, err := c.signalBatch(ctx, fn, query, targets, backendTypes)
	if err == nil || SQLState(err) != "42501" {
		err = c.lost(err)
		// A batch whose sending failed before a byte of it left (pgx
		// says so: the socket was closed under the client, or reading the
		// warm-up's answer first found the connection dead) signalled
		// nothing, so the engine may reconnect and send it once.
		var cl *ConnectionLostError
		if results == nil && errors.As(err, &cl) && pgconn.SafeToRetry(err) {
			cl.Unsent = true
		}
		return results, err
	}
	// The refused statement may have signalled some targets before the
	// one the server refused; it was rolled back, with its audit lines.
	c.noteAborted(fn, err)
	results = make([]activity.SignalResult, 0, len(targets))
	for i, t := range targets {
		one, err := c.signalBatch(ctx, fn, query, []activity.SignalTarget{t}, backendTypes)
		switch {
		case err == nil:
			results = append(results, markAfterAbort(one)...)
		case SQLState(err) == "42501":
			results = append(results, activity.SignalResult{PID: t.PID, Outcome: activity.Denied, Message: serverMessage(err)})
		case c.conn.IsClosed():
			// The outcomes so far stand; this target's and the rest's
			// are unknown, and nothing is re-sent.
			lost := c.lost(err)
			msg := lost.Error() + "; outcome unknown, not re-sent: the next verify checks this session on a fresh snapshot"
			for _, rest := range targets[i:] {
				results = append(results, activity.SignalResult{PID: rest.PID, Outcome: activity.Error, Message: msg})
			}
			return results, lost
		default:
			results = append(results, activity.SignalResult{PID: t.PID, Outcome: activity.Error, Message: oneLine(err)})
		}
	}
	return results, nil
}

// signalBatch signals targets with one statement, followed in the same
// round trip by the block that writes the server log lines of the signals
// it sent. Once the statement's rows are read, the outcomes stand: a
// failure of the block, or of the link after the rows, is an audit
// problem (noteAudit), never an unknown outcome.
func (c *Client) signalBatch(ctx context.Context, fn activity.Function, query string, targets []activity.SignalTarget, backendTypes []string) ([]activity.SignalResult, error) {
	// The block that writes the signals' server log lines travels in the
	// same round trip, right behind the statement (audit.go).
	rows, err := c.queryThen(ctx, query, auditLogSQL, signalArgs(query, fn, targets, backendTypes, c.audit.header)...)
	if err != nil {
		return nil, err
	}
	byPID := make(map[int]activity.SignalResult, len(targets))
	var pid int32
	var outcome string
	_, err = pgx.ForEachRow(rows, []any{&pid, &outcome}, func() error {
		r := activity.SignalResult{PID: int(pid), Outcome: activity.Outcome(outcome)}
		switch outcome {
		case "denied_superuser":
			r.Outcome, r.Message = activity.Denied, "the session belongs to a superuser or to no role: only a superuser may signal it"
		case "signalled_not_exited":
			r.Outcome, r.Message = activity.Signalled, "the signal was sent, but the backend had not exited when the wait ended"
		case "denied_role":
			r.Outcome, r.Message = activity.Denied, "the session belongs to another role: signalling it needs membership in that role or in pg_signal_backend"
		case "denied_autovacuum":
			r.Outcome, r.Message = activity.Denied, "an autovacuum worker: signalling it needs a superuser or membership in pg_signal_autovacuum_worker"
		}
		byPID[r.PID] = r
		return nil
	})
	if err != nil {
		return nil, err
	}
	results := make([]activity.SignalResult, len(targets))
	for i, t := range targets {
		r, ok := byPID[t.PID]
		if !ok {
			r = activity.SignalResult{PID: t.PID, Outcome: activity.Error, Message: "the server returned no result for this target"}
		}
		results[i] = r
	}
	c.noteAudit(results, rows.ThenErr())
	return results, nil
}

// signalQuery is the statement that sends fn on a server of versionNum
// (server_version_num), "" for an unknown function.
func signalQuery(fn activity.Function, versionNum int) string {
	switch fn {
	case activity.Cancel:
		return cancelSQL
	case activity.Terminate:
		if versionNum >= 140000 {
			return terminateWaitSQL
		}
		return terminateSQL
	}
	return ""
}

// signalArgs are the arguments of a signalling statement (signalSQL, in
// query) for targets: the same Go types for every batch, so the types the
// warm-up parses the statement with (ahead.go) are those it is run with.
func signalArgs(query string, fn activity.Function, targets []activity.SignalTarget, backendTypes []string, header string) []any {
	pids := make([]int32, len(targets))
	starts := make([]time.Time, len(targets))
	queryStarts := make([]*time.Time, len(targets))
	xactStarts := make([]*time.Time, len(targets))
	waits := make([]int64, len(targets))
	types := make([]string, len(targets))
	for i, t := range targets {
		types[i] = t.BackendType
		if query == terminateWaitSQL && t.WaitFor > 0 {
			waits[i] = int64((t.WaitFor + time.Millisecond - 1) / time.Millisecond)
		}
		pids[i] = int32(t.PID)
		starts[i] = t.BackendStart
		if t.CheckQuery {
			queryStarts[i] = &t.QueryStart
		}
		if t.CheckXact && !t.XactStart.IsZero() {
			xactStarts[i] = &t.XactStart
		}
	}
	return []any{pids, starts, queryStarts, backendTypes, xactStarts, waits, header, string(fn), types}
}

// markAfterAbort says, on a target the fallback found gone or changed,
// that the refused batch statement may have signalled it before the
// server refused another target.
func markAfterAbort(results []activity.SignalResult) []activity.SignalResult {
	for i, r := range results {
		if (r.Outcome == activity.NotFound || r.Outcome == activity.Changed) && r.Message == "" {
			results[i].Message = "the batch statement the server refused may have signalled it before the refusal"
		}
	}
	return results
}

// SQLState returns the SQLSTATE of a server error, or "".
func SQLState(err error) string { return pgsession.SQLState(err) }

func serverMessage(err error) string {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		if pgErr.Detail != "" {
			return pgErr.Message + ": " + pgErr.Detail
		}
		return pgErr.Message
	}
	return oneLine(err)
}
