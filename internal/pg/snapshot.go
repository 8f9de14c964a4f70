package pg

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/pgrunbook/pgrunbook/internal/activity"
)

// snapshotSQL is the snapshot statement for one server version. Columns a
// version lacks are selected as NULL so every version decodes alike.
type snapshotSQL string

// buildSnapshotSQL returns the snapshot statement: every row of
// pg_stat_activity with its horizon ages, whether the server is a standby,
// and, only for the sessions that wait on a heavyweight lock or are named
// by a waiter's pg_blocking_pids, their rows of pg_locks as a JSON array.
//
// It is one statement, so one round trip and one consistent view of
// pg_stat_activity (read once, in the MATERIALIZED CTE a). Both
// pg_blocking_pids and pg_lock_status (behind pg_locks) take every
// lock-manager partition lock, so pg_blocking_pids is called only for
// rows that wait on a lock, and pg_locks is not read at all when none
// does: its scan sits under a one-time filter (an uncorrelated EXISTS)
// that the executor evaluates before it, and EXPLAIN ANALYZE shows the
// function scan "never executed" then (TestSnapshotSkipsPgLocksWhenNobodyWaits).
//
// Of an involved session's locks only those that can matter are sent:
// the lock it waits for, its granted locks on objects some involved
// session waits for (which tell hard from soft blockers), and one granted
// lock of each lock type and mode (enough for its strongest mode). A
// pg_dump holding AccessShareLock on 10,000 tables sends one of them, not
// 10,000. Relation names are resolved, by pg_class's index on oid, for the
// connected database and the shared catalogs, the only relations pg_class
// here describes, and quoted as SQL identifiers where needed
// (public."Orders").
func buildSnapshotSQL(versionNum int) snapshotSQL {
	return buildSnapshotSQLWhere(versionNum, "")
}

// buildTargetSnapshotSQL is the snapshot statement for the sessions whose
// pids are in the int[] $1 and for every session in a lock chain (waiting
// on a lock, or named by a waiter's pg_blocking_pids): with those, the
// lock facts derived across sessions are the whole server's (SnapshotOf).
func buildTargetSnapshotSQL(versionNum int) snapshotSQL {
	return buildSnapshotSQLWhere(versionNum, "WHERE a.pid = ANY($1::int[]) OR a.pid IN (SELECT involved.pid FROM involved)")
}

// buildSnapshotSQLWhere is the snapshot statement with where (a WHERE
// clause on the rows of the CTE a, or "") choosing the rows it returns.
// pg_stat_activity is read whole either way, once, in a.
func buildSnapshotSQLWhere(versionNum int, where string) snapshotSQL {
	leader, queryID, waitStart := "NULL::int", "NULL::bigint", "NULL::timestamptz"
	if versionNum >= 130000 {
		leader = "a.leader_pid"
	}
	if versionNum >= 140000 {
		queryID = "a.query_id"
		waitStart = "l.waitstart"
	}
	return snapshotSQL(fmt.Sprintf(`WITH a AS MATERIALIZED (
    SELECT a.pid, a.datname, a.usename, a.application_name, a.client_addr, a.client_hostname, a.client_port,
           a.backend_start, a.xact_start, a.query_start, a.state_change,
           a.wait_event_type, a.wait_event, a.state, a.backend_xid, a.backend_xmin, a.query, a.backend_type,
           %s AS leader_pid, %s AS query_id,
           CASE WHEN a.wait_event_type = 'Lock' THEN pg_blocking_pids(a.pid) END AS blocked_by
    FROM pg_stat_activity a
), involved AS (
    SELECT a.pid FROM a WHERE a.wait_event_type = 'Lock'
    UNION
    SELECT unnest(a.blocked_by) FROM a
), l AS MATERIALIZED (
    SELECT l.pid, l.locktype, l.database, l.relation, l.page, l.tuple, l.virtualxid, l.transactionid,
           l.classid, l.objid, l.objsubid, l.mode, l.granted, %s AS waitstart,
           format('%%s:%%s:%%s:%%s:%%s:%%s:%%s:%%s:%%s:%%s', l.locktype, l.database, l.relation, l.page, l.tuple,
                  l.virtualxid, l.transactionid, l.classid, l.objid, l.objsubid) AS object
    FROM pg_locks l
    WHERE EXISTS (SELECT FROM a WHERE a.wait_event_type = 'Lock')
      AND l.pid IN (SELECT involved.pid FROM involved)
), kept AS (
    SELECT l.*, row_number() OVER (PARTITION BY l.pid, l.granted, l.locktype, l.mode) AS nth
    FROM l
), locks AS (
    SELECT k.pid, json_agg(json_build_object(
               't', k.locktype, 'db', k.database::int8, 'rel', k.relation::int8, 'page', k.page, 'tuple', k.tuple,
               'vxid', k.virtualxid, 'xid', k.transactionid::text,
               'classid', k.classid::int8, 'objid', k.objid::int8, 'objsubid', k.objsubid,
               'mode', k.mode, 'granted', k.granted,
               'waitstart', (extract(epoch FROM k.waitstart) * 1000000)::int8,
               'relname', CASE WHEN k.database IN (0, (SELECT d.oid FROM pg_database d WHERE d.datname = current_database()))
                   THEN (SELECT format('%%I.%%I', n.nspname, c.relname)
                         FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.oid = k.relation) END
           ) ORDER BY k.granted, k.locktype, k.mode) AS locks
    FROM kept k
    WHERE NOT k.granted OR k.nth = 1 OR k.object IN (SELECT w.object FROM l w WHERE NOT w.granted)
    GROUP BY k.pid
)
SELECT statement_timestamp(),
       a.pid, a.datname, a.usename, a.application_name,
       host(a.client_addr), a.client_hostname, a.client_port,
       a.backend_start, a.xact_start, a.query_start, a.state_change,
       a.wait_event_type, a.wait_event, a.state,
       a.backend_xid::text, a.backend_xmin::text, a.query, a.backend_type,
       a.leader_pid, a.query_id, a.blocked_by,
       a.pid = pg_backend_pid(),
       age(a.backend_xmin), age(a.backend_xid), (SELECT pg_is_in_recovery()),
       locks.locks
FROM a LEFT JOIN locks ON locks.pid = a.pid
%s
ORDER BY a.pid`, leader, queryID, waitStart, where))
}

// lockRow is one element of the snapshot's JSON array of a session's
// locks, named briefly to keep the wire small.
type lockRow struct {
	LockType      string `json:"t"`
	Database      uint32 `json:"db"`
	Relation      uint32 `json:"rel"`
	Page          int32  `json:"page"`
	Tuple         int16  `json:"tuple"`
	VirtualXID    string `json:"vxid"`
	TransactionID string `json:"xid"`
	ClassID       uint32 `json:"classid"`
	ObjID         uint32 `json:"objid"`
	ObjSubID      int16  `json:"objsubid"`
	Mode          string `json:"mode"`
	Granted       bool   `json:"granted"`
	// WaitStart is pg_locks.waitstart in microseconds since the Unix
	// epoch; null when not waiting or before PostgreSQL 14.
	WaitStart    *int64 `json:"waitstart"`
	RelationName string `json:"relname"`
}

// decodeLocks turns a session's JSON array of locks into activity.Lock
// rows. No array (a session without lock detail) gives nil.
func decodeLocks(raw []byte) ([]activity.Lock, error) {
	if raw == nil {
		return nil, nil
	}
	var rows []lockRow
	if err := json.Unmarshal(raw, &rows); err != nil {
		return nil, err
	}
	out := make([]activity.Lock, len(rows))
	for i, r := range rows {
		out[i] = activity.Lock{
			LockType: r.LockType, Database: r.Database, Relation: r.Relation, Page: r.Page, Tuple: r.Tuple,
			VirtualXID: r.VirtualXID, TransactionID: r.TransactionID,
			ClassID: r.ClassID, ObjID: r.ObjID, ObjSubID: r.ObjSubID,
			Mode: r.Mode, Granted: r.Granted, RelationName: r.RelationName,
		}
		if r.WaitStart != nil {
			out[i].WaitStart = time.UnixMicro(*r.WaitStart).UTC()
		}
	}
	return out, nil
}

// Snapshot reads every row of pg_stat_activity in one statement (one round
// trip), in its own transaction so the data is fresh, with lock detail
// for the sessions that wait or block, and derives runtimes, lock facts
// and the server's connection counts. Server carries the facts Connect
// read and whether the server is a standby now.
//
// The first call after connecting may cost no round trip: Connect sends
// the snapshot statement with its set-up statement, and a snapshot read
// that way is returned once if it is asked for within prefetchFresh
// (prefetch.go).
func (c *Client) Snapshot(ctx context.Context) (*activity.Snapshot, error) {
	var snap *activity.Snapshot
	if p := c.takePrefetched(); p != nil {
		snap = c.finishSnapshot(ctx, p.rows)
	} else {
		var err error
		if snap, err = c.readSnapshot(ctx, c.sql, c.lastRows); err != nil {
			return nil, err
		}
	}
	c.lastRows = len(snap.Rows)
	return snap, nil
}

// SnapshotOf is Snapshot for the sessions with the given pids, as a verify
// poll needs them: the server sends and pgrunbook decodes those rows and
// the rows of the sessions in lock chains, not every session's. So a
// row's own facts and its lock facts (who blocks how many, root blockers)
// are the whole server's; the server's facts (connection counts) count
// only the rows read.
func (c *Client) SnapshotOf(ctx context.Context, pids []int) (*activity.Snapshot, error) {
	ids := make([]int32, len(pids))
	for i, p := range pids {
		ids[i] = int32(p)
	}
	return c.readSnapshot(ctx, c.targetSQL, len(pids), ids)
}

// readSnapshot runs a snapshot statement with its arguments, and decodes
// and finishes its rows, with room for capacity of them at first.
func (c *Client) readSnapshot(ctx context.Context, sql snapshotSQL, capacity int, args ...any) (*activity.Snapshot, error) {
	rows, err := c.query(ctx, string(sql), args...)
	if err != nil {
		return nil, c.lost(fmt.Errorf("reading pg_stat_activity: %w", err))
	}
	read, err := scanSnapshot(rows, capacity)
	if err != nil {
		return nil, c.lost(err)
	}
	return c.finishSnapshot(ctx, read), nil
}

// snapshotRows are the rows of one snapshot statement as the server sent
// them, before the facts that need the client's state are added.
type snapshotRows struct {
	snap    *activity.Snapshot
	standby bool
}

// scanSnapshot reads the rows of the snapshot statement, with room for
// capacity of them at first, and closes them: from their binary values
// when the server described them as expected (snapshotraw.go), else
// through pgx's Scan.
func scanSnapshot(rows pgx.Rows, capacity int) (snapshotRows, error) {
	defer rows.Close()
	var dec snapshotRowDecoder = &scannedRow{}
	if rawSnapshotReadable(rows) {
		dec = newRawRow()
	}
	// A session is a large value: growing the rows by doubling would
	// copy and allocate about twice what a snapshot keeps.
	snap := &activity.Snapshot{Rows: make([]activity.Session, 0, capacity)}
	var taken time.Time
	var standby bool
	for rows.Next() {
		var s activity.Session
		var err error
		if s, taken, standby, err = dec.decode(rows); err != nil {
			return snapshotRows{}, err
		}
		snap.Rows = append(snap.Rows, s)
	}
	if err := rows.Err(); err != nil {
		return snapshotRows{}, fmt.Errorf("reading pg_stat_activity: %w", err)
	}
	snap.Taken = taken.UTC()
	return snapshotRows{snap: snap, standby: standby}, nil
}

// snapshotRowDecoder turns the current row of the snapshot statement into
// a session, with the statement's time and whether the server is a
// standby (the same on every row).
type snapshotRowDecoder interface {
	decode(rows pgx.Rows) (s activity.Session, taken time.Time, standby bool, err error)
}

// scannedRow decodes a row through pgx's Scan.
type scannedRow struct {
	datname, usename, app, addr, host, wet, we, state pgtype.Text
	xid, xmin, query, btype                           pgtype.Text
	port, leader, xminAge, xidAge                     pgtype.Int4
	queryID                                           pgtype.Int8
	bstart, xstart, qstart, schange                   pgtype.Timestamptz
	blocked                                           []int32
	locks                                             []byte
	pid                                               int32
	self                                              bool
}

func (r *scannedRow) decode(rows pgx.Rows) (activity.Session, time.Time, bool, error) {
	var taken time.Time
	var standby bool
	r.blocked, r.locks = r.blocked[:0], nil
	if err := rows.Scan(&taken, &r.pid, &r.datname, &r.usename, &r.app, &r.addr, &r.host, &r.port,
		&r.bstart, &r.xstart, &r.qstart, &r.schange, &r.wet, &r.we, &r.state, &r.xid, &r.xmin, &r.query, &r.btype,
		&r.leader, &r.queryID, &r.blocked, &r.self, &r.xminAge, &r.xidAge, &standby, &r.locks); err != nil {
		return activity.Session{}, taken, standby, fmt.Errorf("decoding pg_stat_activity: %w", err)
	}
	s := activity.Session{
		PID: int(r.pid), Datname: r.datname.String, Usename: r.usename.String, ApplicationName: r.app.String,
		ClientAddr: r.addr.String, ClientHostname: r.host.String, ClientPort: int(r.port.Int32),
		BackendStart: ts(r.bstart), XactStart: ts(r.xstart), QueryStart: ts(r.qstart), StateChange: ts(r.schange),
		WaitEventType: r.wet.String, WaitEvent: r.we.String, State: r.state.String,
		BackendXID: r.xid.String, BackendXmin: r.xmin.String, Query: r.query.String, BackendType: r.btype.String,
		LeaderPID: int(r.leader.Int32), QueryID: r.queryID.Int64, IsSelf: r.self,
		XminAge: int64(r.xminAge.Int32), XidAge: int64(r.xidAge.Int32),
	}
	if len(r.blocked) > 0 {
		s.BlockedBy = make([]int, len(r.blocked))
		for i, b := range r.blocked {
			s.BlockedBy[i] = int(b)
		}
	}
	var err error
	if s.Locks, err = decodeLocks(r.locks); err != nil {
		return s, taken, standby, fmt.Errorf("decoding the locks of pid %d: %w", r.pid, err)
	}
	return s, taken, standby, nil
}

// finishSnapshot adds what the client knows to the rows the server sent:
// the server's facts, the pooled backends' clients, the derived facts.
func (c *Client) finishSnapshot(ctx context.Context, read snapshotRows) *activity.Snapshot {
	snap := read.snap
	snap.Server = c.ServerFacts()
	snap.Server.IsStandby = read.standby
	c.markPooled(ctx, snap) // pooler_mark.go
	snap.Derive()
	return snap
}

func ts(t pgtype.Timestamptz) time.Time {
	if !t.Valid {
		return time.Time{}
	}
	return t.Time.UTC()
}
