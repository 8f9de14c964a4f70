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
)

// signalSQL signals a batch of targets in one statement. For each target
// it re-reads pg_stat_activity and calls the function only when the pid
// still belongs to the same backend (backend_start), still runs the same
// statement (query_start) or transaction (xact_start) when asked, is of an
// allowed backend type and is not our own backend. It also predicts the server's permission check, so
// that one refused target does not abort the whole batch: a superuser's
// (or role-less) backend needs a superuser; another role's backend needs
// membership in that role or in pg_signal_backend.
//
// %s is the function name, one of two constants, never input.
const signalSQL = `WITH t AS (
    SELECT * FROM unnest($1::int[], $2::timestamptz[], $3::timestamptz[], $5::timestamptz[])
        AS t(pid, backend_start, query_start, xact_start)
), a AS (
    SELECT a.pid, a.backend_start, a.query_start, a.xact_start, a.backend_type, a.usesysid
    FROM pg_stat_activity a WHERE a.pid IN (SELECT pid FROM t)
)
SELECT t.pid,
    CASE
    WHEN a.pid IS NULL THEN 'not_found'
    WHEN a.backend_start IS DISTINCT FROM t.backend_start
      OR (t.query_start IS NOT NULL AND a.query_start IS DISTINCT FROM t.query_start)
      OR (t.xact_start IS NOT NULL AND a.xact_start IS DISTINCT FROM t.xact_start)
      OR a.backend_type IS NULL OR NOT (a.backend_type = ANY($4::text[]))
      OR a.pid = pg_backend_pid() THEN 'changed'
    WHEN NOT (SELECT r.rolsuper FROM pg_roles r WHERE r.rolname = current_user)
      AND (a.usesysid IS NULL OR coalesce((SELECT r.rolsuper FROM pg_roles r WHERE r.oid = a.usesysid), true))
      THEN 'denied_superuser'
    WHEN NOT pg_has_role(a.usesysid, 'USAGE') AND NOT pg_has_role('pg_signal_backend', 'USAGE')
      THEN 'denied_role'
    WHEN %s(a.pid) THEN 'signalled'
    ELSE 'not_found'
    END
FROM t LEFT JOIN a ON a.pid = t.pid`

// The statements that signal, each also keeping its audit lines
// (audit.go).
var (
	cancelSQL    = auditedSQL(fmt.Sprintf(signalSQL, activity.Cancel))
	terminateSQL = auditedSQL(fmt.Sprintf(signalSQL, activity.Terminate))
)

// Signal sends fn to the targets, each only if its identity still holds,
// and returns one result per target in the order given. It costs one
// round trip for the whole batch; only if the server refuses the batch
// with a permission error (SQLSTATE 42501) that the statement did not
// predict does it fall back to one statement per target, so that each
// refusal is recorded for its own target and the others are still sent.
//
// backendTypes lists backend types that may be signalled besides "client
// backend", which always may.
func (c *Client) Signal(ctx context.Context, fn activity.Function, targets []activity.SignalTarget, backendTypes []string) ([]activity.SignalResult, error) {
	if len(targets) == 0 {
		return nil, nil
	}
	var query string
	switch fn {
	case activity.Cancel:
		query = cancelSQL
	case activity.Terminate:
		query = terminateSQL
	default:
		return nil, fmt.Errorf("unknown signalling function %q", fn)
	}
	if !slices.Contains(backendTypes, activity.ClientBackend) {
		backendTypes = append(slices.Clip(backendTypes), activity.ClientBackend)
	}
	results, err := c.signalBatch(ctx, fn, query, targets, backendTypes)
	if err == nil || SQLState(err) != "42501" {
		return results, c.lost(err)
	}
	results = make([]activity.SignalResult, 0, len(targets))
	for _, t := range targets {
		one, err := c.signalBatch(ctx, fn, query, []activity.SignalTarget{t}, backendTypes)
		switch {
		case err == nil:
			results = append(results, one...)
		case SQLState(err) == "42501":
			results = append(results, activity.SignalResult{PID: t.PID, Outcome: activity.Denied, Message: serverMessage(err)})
		case c.conn.IsClosed():
			return nil, c.lost(err)
		default:
			results = append(results, activity.SignalResult{PID: t.PID, Outcome: activity.Error, Message: oneLine(err)})
		}
	}
	return results, nil
}

// signalBatch signals targets with one statement and then writes the
// server log lines of the signals it sent (writeAudit).
func (c *Client) signalBatch(ctx context.Context, fn activity.Function, query string, targets []activity.SignalTarget, backendTypes []string) ([]activity.SignalResult, error) {
	pids := make([]int32, len(targets))
	starts := make([]time.Time, len(targets))
	queryStarts := make([]*time.Time, len(targets))
	xactStarts := make([]*time.Time, len(targets))
	for i, t := range targets {
		pids[i] = int32(t.PID)
		starts[i] = t.BackendStart
		if t.CheckQuery {
			queryStarts[i] = &t.QueryStart
		}
		if t.CheckXact && !t.XactStart.IsZero() {
			xactStarts[i] = &t.XactStart
		}
	}
	rows, err := c.query(ctx, query, pids, starts, queryStarts, backendTypes, xactStarts, c.audit.header, string(fn))
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
		case "denied_role":
			r.Outcome, r.Message = activity.Denied, "the session belongs to another role: signalling it needs membership in that role or in pg_signal_backend"
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
	c.writeAudit(ctx, results)
	return results, nil
}

// SQLState returns the SQLSTATE of a server error, or "".
func SQLState(err error) string {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		return pgErr.Code
	}
	return ""
}

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
