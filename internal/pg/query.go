package pg

// One statement, one round trip: how Client sends its statements.

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgtype"
)

// binaryResults asks for every result column in binary format.
var binaryResults = []int16{pgtype.BinaryFormatCode}

// statements are the prepared statements of one connection, by SQL text.
// A statement is prepared in the same round trip as its first execution
// and executed by name afterwards, so the server parses and plans it once
// per connection (planning the snapshot statement costs more than running
// it on a quiet server) and no use costs a second round trip.
type statements struct {
	conn   *pgconn.PgConn
	byText map[string]*pgconn.StatementDescription
}

// prepared returns the description of sql prepared on conn, or nil. A new
// connection (after Reconnect) starts with none.
func (s *statements) prepared(conn *pgconn.PgConn, sql string) *pgconn.StatementDescription {
	if s.conn != conn {
		s.conn, s.byText = conn, map[string]*pgconn.StatementDescription{}
	}
	return s.byText[sql]
}

func (s *statements) add(sd *pgconn.StatementDescription) { s.byText[sd.SQL] = sd }

// name is the name for the next statement prepared on the connection.
func (s *statements) name() string { return fmt.Sprintf("pgrunbook_%d", len(s.byText)+1) }

// query sends one statement with its arguments in one round trip and
// returns its rows, which the caller must close. On the first use on a
// connection it sends Parse, Describe, Bind, Describe, Execute and Sync
// together (a pipeline: the statement is prepared and run at once);
// afterwards Bind, Execute and Sync. Arguments travel in binary as the
// types their Go values map to (int32 as int4, []int32 as int4[],
// time.Time as timestamptz, []*time.Time as timestamptz[] with NULLs,
// []string as text[]); every statement casts its parameters explicitly
// anyway. Results come back in binary, so every result column must be of
// a built-in type pgx decodes (cast anything else to text). The statement
// is bounded by statementContext; when that bound ends it, the connection
// is closed and the error says so (noAnswerError).
func (c *Client) query(ctx context.Context, sql string, args ...any) (pgx.Rows, error) {
	sctx, cancel := c.statementContext(ctx)
	r := &boundedRows{parent: ctx, ctx: sctx, cancel: cancel, bound: c.link}
	values, oids, err := encodeArgs(c.conn.TypeMap(), args)
	if err != nil {
		cancel()
		return nil, err
	}
	pc := c.conn.PgConn()
	if sd := c.link.statements.prepared(pc, sql); sd != nil {
		r.Rows = pgx.RowsFromResultReader(c.conn.TypeMap(), pc.ExecStatement(sctx, sd, values, binaryResults, binaryResults))
		return r, nil
	}
	name := c.link.statements.name()
	p := pc.StartPipeline(sctx)
	p.SendPrepare(name, sql, oids)
	p.SendQueryPrepared(name, values, binaryResults, binaryResults)
	fail := func(err error) (pgx.Rows, error) {
		_ = p.Close()
		cancel()
		return nil, r.explain(err)
	}
	if err := p.Sync(); err != nil {
		return fail(err)
	}
	res, err := p.GetResults()
	if err != nil {
		return fail(err)
	}
	sd, ok := res.(*pgconn.StatementDescription)
	if !ok {
		return fail(fmt.Errorf("preparing a statement: unexpected %T", res))
	}
	sd.Name, sd.SQL = name, sql
	c.link.statements.add(sd)
	if res, err = p.GetResults(); err != nil {
		return fail(err)
	}
	rr, ok := res.(*pgconn.ResultReader)
	if !ok {
		return fail(fmt.Errorf("running a statement: unexpected %T", res))
	}
	r.Rows, r.pipeline = pgx.RowsFromResultReader(c.conn.TypeMap(), rr), p
	return r, nil
}

// queryRow is query for a statement that returns one row; Scan reads it
// and ends the statement.
func (c *Client) queryRow(ctx context.Context, sql string, args ...any) pgx.Row {
	rows, err := c.query(ctx, sql, args...)
	if err != nil {
		return errRow{err}
	}
	return oneRow{rows}
}

// encodeArgs encodes each argument in binary as the type its Go value
// maps to. A nil argument is sent as a NULL of a type the server infers.
func encodeArgs(m *pgtype.Map, args []any) ([][]byte, []uint32, error) {
	values := make([][]byte, len(args))
	oids := make([]uint32, len(args))
	for i, a := range args {
		if a == nil {
			continue
		}
		t, ok := m.TypeForValue(a)
		if !ok {
			return nil, nil, fmt.Errorf("argument %d: no PostgreSQL type for Go type %T", i+1, a)
		}
		buf, err := m.Encode(t.OID, pgtype.BinaryFormatCode, a, nil)
		if err != nil {
			return nil, nil, fmt.Errorf("argument %d: %w", i+1, err)
		}
		values[i], oids[i] = buf, t.OID
	}
	return values, oids, nil
}

// boundedRows are the rows of a bounded statement: closing them ends the
// statement (and the pipeline of its first use) and releases the bound;
// an error caused by the bound says so.
type boundedRows struct {
	pgx.Rows
	// pipeline, on a statement's first use, still holds the Sync.
	pipeline    *pgconn.Pipeline
	parent, ctx context.Context
	cancel      context.CancelFunc
	bound       *link
	closed      bool
	closeErr    error
}

func (r *boundedRows) Close() {
	if r.closed {
		return
	}
	r.closed = true
	r.Rows.Close()
	if r.pipeline != nil {
		r.closeErr = r.pipeline.Close()
	}
	r.cancel()
}

func (r *boundedRows) Next() bool {
	if r.Rows.Next() {
		return true
	}
	r.Close()
	return false
}

func (r *boundedRows) Err() error {
	err := r.Rows.Err()
	if err == nil && r.closed {
		err = r.closeErr
	}
	return r.explain(err)
}

// explain says so when the statement bound ended the statement.
func (r *boundedRows) explain(err error) error {
	if err != nil && r.parent.Err() == nil && errors.Is(r.ctx.Err(), context.DeadlineExceeded) {
		return &noAnswerError{bound: r.bound, err: err}
	}
	return err
}

// oneRow is the pgx.Row of a bounded statement.
type oneRow struct{ rows pgx.Rows }

func (r oneRow) Scan(dest ...any) error {
	defer r.rows.Close()
	if !r.rows.Next() {
		if err := r.rows.Err(); err != nil {
			return err
		}
		return pgx.ErrNoRows
	}
	if err := r.rows.Scan(dest...); err != nil {
		return err
	}
	r.rows.Close()
	return r.rows.Err()
}

type errRow struct{ err error }

func (r errRow) Scan(...any) error { return r.err }
