package main

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/pgrunbook/pgrunbook/internal/pg"
)

// snapshotCalls is how many Client.Snapshot calls are timed per level,
// after snapshotWarmup untimed ones.
const (
	snapshotCalls  = 60
	snapshotWarmup = 5
)

// snapshotCost is the cost of Client.Snapshot with a number of rows in
// pg_stat_activity.
type snapshotCost struct {
	Rows  int
	Times durations
}

// measureSnapshot times Client.Snapshot, the statement every activity
// step and every verify poll sends, from the call to the decoded rows with
// derived fields.
func measureSnapshot(ctx context.Context, c *pg.Client) (snapshotCost, error) {
	var res snapshotCost
	for i := -snapshotWarmup; i < snapshotCalls; i++ {
		start := time.Now()
		snap, err := c.Snapshot(ctx)
		if err != nil {
			return res, err
		}
		d := time.Since(start)
		if i >= 0 {
			res.Times = append(res.Times, d)
			res.Rows = len(snap.Rows)
		}
	}
	return res, nil
}

func (s snapshotCost) row() []string {
	return []string{fmt.Sprint(s.Rows), ms(s.Times.median()), ms(s.Times.p95()), ms(s.Times.max())}
}

// Two ways a verify poll could read only its targets' rows, with the
// same columns as a snapshot. They are the bench's estimates for the
// cheaper poll proposed in docs/performance.md, not pgrunbook's
// statements. The first filters the view, which still builds a row for
// every backend; the second asks pg_stat_get_activity for each pid, which
// builds only the rows asked for.
const (
	pollViewSQL = `SELECT statement_timestamp(), a.pid, a.datname, a.usename, a.application_name,
       host(a.client_addr), a.client_hostname, a.client_port,
       a.backend_start, a.xact_start, a.query_start, a.state_change,
       a.wait_event_type, a.wait_event, a.state,
       a.backend_xid::text, a.backend_xmin::text, a.query, a.backend_type,
       a.leader_pid, a.query_id,
       CASE WHEN a.wait_event_type = 'Lock' THEN pg_blocking_pids(a.pid) END,
       a.pid = pg_backend_pid()
FROM pg_stat_activity a WHERE a.pid = ANY($1::int[])
ORDER BY a.pid`
	pollFunctionSQL = `SELECT statement_timestamp(), a.pid, d.datname, r.rolname, a.application_name,
       host(a.client_addr), a.client_hostname, a.client_port,
       a.backend_start, a.xact_start, a.query_start, a.state_change,
       a.wait_event_type, a.wait_event, a.state,
       a.backend_xid::text, a.backend_xmin::text, a.query, a.backend_type,
       a.leader_pid, a.query_id,
       CASE WHEN a.wait_event_type = 'Lock' THEN pg_blocking_pids(a.pid) END,
       a.pid = pg_backend_pid()
FROM unnest($1::int[]) AS t(pid)
CROSS JOIN LATERAL pg_stat_get_activity(t.pid) AS a
LEFT JOIN pg_database d ON d.oid = a.datid
LEFT JOIN pg_roles r ON r.oid = a.usesysid
ORDER BY a.pid`
)

// snapshotWithoutBlockingSQL is the snapshot statement's columns without
// pg_blocking_pids, for the bench's -impact-detail rounds: the bench's
// copy, to tell what pg_blocking_pids costs a busy server. Column 12 is
// wait_event_type.
const snapshotWithoutBlockingSQL = `SELECT statement_timestamp(), a.pid, a.datname, a.usename, a.application_name,
       host(a.client_addr), a.client_hostname, a.client_port,
       a.backend_start, a.xact_start, a.query_start, a.state_change,
       a.wait_event_type, a.wait_event, a.state,
       a.backend_xid::text, a.backend_xmin::text, a.query, a.backend_type,
       a.leader_pid, a.query_id, NULL::int[],
       a.pid = pg_backend_pid()
FROM pg_stat_activity a
ORDER BY a.pid`

// measurePoll times a targeted poll statement for pids on conn, each call
// in its own transaction like a snapshot, decoding every value.
func measurePoll(ctx context.Context, conn *pgx.Conn, sql string, pids []int32) (durations, error) {
	var d durations
	for i := -snapshotWarmup; i < snapshotCalls; i++ {
		start := time.Now()
		rows, err := conn.Query(ctx, sql, pids)
		if err != nil {
			return nil, err
		}
		n := 0
		for rows.Next() {
			if _, err := rows.Values(); err != nil {
				rows.Close()
				return nil, err
			}
			n++
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, err
		}
		if n != len(pids) {
			return nil, fmt.Errorf("targeted poll read %d rows for %d pids", n, len(pids))
		}
		if i >= 0 {
			d = append(d, time.Since(start))
		}
	}
	return d, nil
}
