package pg

// Connecting and the first snapshot in one round trip.
//
// A run's first statement after connecting is almost always a snapshot,
// and far from the server every round trip counts (at 30 ms each, four
// against psql's three). The server names its version in the startup
// (ParameterStatus server_version), which is all the snapshot statement
// depends on, so Connect sends the snapshot statement right behind the
// set-up statement, in the same pipeline, and keeps its rows for the
// first Snapshot call.

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// prefetchFresh is how long after connecting the snapshot read with the
// set-up statement still stands in for a new one. A run's first step asks
// within milliseconds; anything later (a prompt first, a long wait step)
// reads pg_stat_activity afresh.
const prefetchFresh = 500 * time.Millisecond

// maxPresizedRows bounds the room made at once for a first snapshot: a
// server configured for more sessions than that grows it as it comes.
const maxPresizedRows = 8192

// prefetched is a snapshot read while connecting, not yet handed out.
type prefetched struct {
	rows snapshotRows
	sql  snapshotSQL
	at   time.Time // when it arrived, on this machine's monotonic clock
}

// takePrefetched returns the snapshot read while connecting, once, if it
// is still fresh and was read with the statement the connection now uses
// (the version the startup named was the server's); otherwise nil.
func (c *Client) takePrefetched() *prefetched {
	p := c.prefetch
	c.prefetch = nil
	if p == nil || p.sql != c.sql || time.Since(p.at) > prefetchFresh {
		return nil
	}
	return p
}

// versionFromStartup turns the server_version the server reported at
// startup ("15.10 (Debian 15.10-1.pgdg120+1)", "18.4", "16beta1") into
// the server_version_num form (150010, 180004, 160000); 0 when it cannot
// tell. Only a snapshot statement depends on it, and that statement is
// used only if the version read by the set-up statement builds the same.
func versionFromStartup(v string) int {
	major, rest, _ := strings.Cut(v, ".")
	i := 0
	for i < len(major) && major[i] >= '0' && major[i] <= '9' {
		i++
	}
	m, err := strconv.Atoi(major[:i])
	if err != nil || m < 10 {
		return 0
	}
	j := 0
	for j < len(rest) && rest[j] >= '0' && rest[j] <= '9' {
		j++
	}
	minor, _ := strconv.Atoi(rest[:j])
	return m*10000 + minor
}

// setUpStatement runs the set-up statement (sql with args, one row scanned
// into dest) on a new connection. With a snapshot statement (snapSQL not
// "") it sends that in the same pipeline, after the set-up, and returns
// its rows; a snapshot that fails is dropped and costs the run nothing
// but the round trip it was to save. Both are unnamed statements: nothing is left prepared on a
// server session that a pooler in between might hand to another client.
//
// The two statements share one Sync, so one implicit transaction: a
// failing snapshot would roll back the set-up's set_config calls. Then
// the set-up statement is sent again on its own.
//
// rows, when not nil, is read once the set-up's row is scanned: room for
// that many snapshot rows is made at once (the set-up reads
// max_connections, more than the sessions there can be; capacity that is
// never written costs no memory).
//
// warmUp, when not 0 and with a snapshot, adds the warm-up (ahead.go)
// for that server version after a Sync of its own; the pipeline is then
// returned unfinished as an ahead, which the Client settles before its
// next statement. The pipeline follows ctx until the set-up and the
// snapshot are read; from then on nothing bounds it until the reading of
// the rest, which bound bounds (settle): the next statement may come much
// later (after a confirmation, a wait step, a watch's next round).
func setUpStatement(ctx context.Context, conn *pgx.Conn, snapSQL snapshotSQL, sql string, args, dest []any, rows *int, warmUp int, bound time.Duration) (*prefetched, *ahead, error) {
	values, oids, err := encodeArgs(conn.TypeMap(), args)
	if err != nil {
		return nil, nil, err
	}
	warm := warmUp > 0 && snapSQL != ""
	pctx, cancel := ctx, context.CancelFunc(func() {})
	var stop func() bool
	if warm {
		// The warm-up's answer is read after this returns: the
		// pipeline's context outlives ctx, following it only until
		// the set-up's part is read.
		pctx, cancel = context.WithCancel(context.WithoutCancel(ctx))
		stop = context.AfterFunc(ctx, cancel)
	}
	p := conn.PgConn().StartPipeline(pctx)
	fail := func(err error) (*prefetched, *ahead, error) {
		_ = p.Close()
		cancel()
		return nil, nil, err
	}
	p.SendQueryParams(sql, values, oids, binaryResults, binaryResults)
	if snapSQL != "" {
		p.SendQueryParams(string(snapSQL), nil, nil, nil, binaryResults)
	}
	if warm {
		p.SendPipelineSync()
		sendWarmUp(p, conn, warmUp)
	}
	if err := p.Sync(); err != nil {
		return fail(err)
	}
	if err := scanOne(conn, p, dest); err != nil {
		return fail(err)
	}
	var pre *prefetched
	var snapErr error
	if snapSQL != "" {
		res, err := p.GetResults()
		if err == nil {
			rr, ok := res.(*pgconn.ResultReader)
			if !ok {
				err = fmt.Errorf("reading the first snapshot: unexpected %T", res)
			} else {
				var read snapshotRows
				capacity := 0
				if rows != nil {
					capacity = min(*rows, maxPresizedRows)
				}
				read, err = scanSnapshot(pgx.RowsFromResultReader(conn.TypeMap(), rr), capacity)
				pre = &prefetched{rows: read, sql: snapSQL, at: time.Now()}
			}
		}
		snapErr = err
	}
	var tail *ahead
	if warm && snapErr == nil {
		// The set-up's Sync ends its part; the rest is the warm-up's.
		var res any
		if res, snapErr = p.GetResults(); snapErr == nil {
			if _, ok := res.(*pgconn.PipelineSync); !ok {
				snapErr = fmt.Errorf("setting up: unexpected %T", res)
			}
		}
		if snapErr == nil && stop() {
			tail = &ahead{pipeline: p, cancel: cancel, bound: bound}
		}
	}
	if tail == nil {
		if err := p.Close(); err != nil && snapErr == nil {
			snapErr = err
		}
		cancel()
	}
	if snapErr == nil {
		return pre, tail, nil
	}
	if conn.IsClosed() {
		return nil, nil, snapErr
	}
	// The snapshot failed, and with it the implicit transaction the
	// settings were made in: set up again, alone.
	_, _, err = setUpStatement(ctx, conn, "", sql, args, dest, nil, 0, bound)
	return nil, nil, err
}

// scanOne reads the next result of p, which must be one row, into dest.
func scanOne(conn *pgx.Conn, p *pgconn.Pipeline, dest []any) error {
	res, err := p.GetResults()
	if err != nil {
		return err
	}
	rr, ok := res.(*pgconn.ResultReader)
	if !ok {
		return fmt.Errorf("setting up: unexpected %T", res)
	}
	rows := pgx.RowsFromResultReader(conn.TypeMap(), rr)
	defer rows.Close()
	if !rows.Next() {
		if err := rows.Err(); err != nil {
			return err
		}
		return pgx.ErrNoRows
	}
	if err := rows.Scan(dest...); err != nil {
		return err
	}
	rows.Close()
	return rows.Err()
}
