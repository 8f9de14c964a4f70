package pg

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5/pgtype"

	"github.com/pgrunbook/pgrunbook/internal/activity"
)

// snapshotSQL is the snapshot statement for one server version. Columns a
// version lacks are selected as NULL so every version decodes alike.
type snapshotSQL string

func buildSnapshotSQL(versionNum int) snapshotSQL {
	leader, queryID := "NULL::int", "NULL::bigint"
	if versionNum >= 130000 {
		leader = "a.leader_pid"
	}
	if versionNum >= 140000 {
		queryID = "a.query_id"
	}
	// pg_blocking_pids takes every lock-manager partition lock, so it is
	// called only for the rows that wait on a heavyweight lock.
	return snapshotSQL(fmt.Sprintf(`SELECT statement_timestamp(),
       a.pid, a.datname, a.usename, a.application_name,
       host(a.client_addr), a.client_hostname, a.client_port,
       a.backend_start, a.xact_start, a.query_start, a.state_change,
       a.wait_event_type, a.wait_event, a.state,
       a.backend_xid::text, a.backend_xmin::text, a.query, a.backend_type,
       %s, %s,
       CASE WHEN a.wait_event_type = 'Lock' THEN pg_blocking_pids(a.pid) END,
       a.pid = pg_backend_pid()
FROM pg_stat_activity a
ORDER BY a.pid`, leader, queryID))
}

// Snapshot reads every row of pg_stat_activity in one statement (one round
// trip), in its own transaction so the data is fresh, and derives runtimes
// and lock blocking.
func (c *Client) Snapshot(ctx context.Context) (*activity.Snapshot, error) {
	rows, err := c.query(ctx, string(c.sql))
	if err != nil {
		return nil, c.lost(fmt.Errorf("reading pg_stat_activity: %w", err))
	}
	defer rows.Close()
	snap := &activity.Snapshot{}
	var (
		taken                                             time.Time
		datname, usename, app, addr, host, wet, we, state pgtype.Text
		xid, xmin, query, btype                           pgtype.Text
		port, leader                                      pgtype.Int4
		queryID                                           pgtype.Int8
		bstart, xstart, qstart, schange                   pgtype.Timestamptz
		blocked                                           []int32
		pid                                               int32
		self                                              bool
	)
	for rows.Next() {
		blocked = blocked[:0]
		if err := rows.Scan(&taken, &pid, &datname, &usename, &app, &addr, &host, &port,
			&bstart, &xstart, &qstart, &schange, &wet, &we, &state, &xid, &xmin, &query, &btype,
			&leader, &queryID, &blocked, &self); err != nil {
			return nil, fmt.Errorf("decoding pg_stat_activity: %w", err)
		}
		s := activity.Session{
			PID: int(pid), Datname: datname.String, Usename: usename.String, ApplicationName: app.String,
			ClientAddr: addr.String, ClientHostname: host.String, ClientPort: int(port.Int32),
			BackendStart: ts(bstart), XactStart: ts(xstart), QueryStart: ts(qstart), StateChange: ts(schange),
			WaitEventType: wet.String, WaitEvent: we.String, State: state.String,
			BackendXID: xid.String, BackendXmin: xmin.String, Query: query.String, BackendType: btype.String,
			LeaderPID: int(leader.Int32), QueryID: queryID.Int64, IsSelf: self,
		}
		if len(blocked) > 0 {
			s.BlockedBy = make([]int, len(blocked))
			for i, b := range blocked {
				s.BlockedBy[i] = int(b)
			}
		}
		snap.Rows = append(snap.Rows, s)
	}
	if err := rows.Err(); err != nil {
		return nil, c.lost(fmt.Errorf("reading pg_stat_activity: %w", err))
	}
	snap.Taken = taken.UTC()
	c.markPooled(ctx, snap) // pooler_mark.go
	snap.Derive()
	return snap, nil
}

func ts(t pgtype.Timestamptz) time.Time {
	if !t.Valid {
		return time.Time{}
	}
	return t.Time.UTC()
}
