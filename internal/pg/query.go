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
	return c.send(ctx, sql, "", args)
}

// queryThen is query with a second statement, then, sent in the same
// pipeline right behind the first (unnamed, without arguments, its rows
// discarded): two statements, one round trip. Then's outcome is kept
// apart from the first statement's: once the first statement has
// completed, nothing that happens to then or to the rest of the pipeline
// shows in the rows' Err; it is in ThenErr after Close. The server skips
// then when the first statement fails. The two run in one implicit
// transaction, so then sees what the first statement did.
func (c *Client) queryThen(ctx context.Context, sql, then string, args ...any) (*boundedRows, error) {
	rows, err := c.send(ctx, sql, then, args)
	if err != nil {
		return nil, err
	}
	return rows.(*boundedRows), nil
}

func (c *Client) send(ctx context.Context, sql, then string, args []any) (pgx.Rows, error) {
	c.settle() // ahead.go
	sctx, cancel := c.statementContext(ctx)
	r := &boundedRows{parent: ctx, ctx: sctx, cancel: cancel, bound: c.link}
	values, oids, err := encodeArgs(c.conn.TypeMap(), args)
	if err != nil {
		cancel()
		return nil, err
	}
	pc := c.conn.PgConn()
	sd := c.link.statements.prepared(pc, sql)
	if sd != nil && then == "" {
		r.Rows = pgx.RowsFromResultReader(c.conn.TypeMap(), pc.ExecStatement(sctx, sd, values, binaryResults, binaryResults))
		return r, nil
	}
	p := pc.StartPipeline(sctx)
	var name string
	if sd != nil {
		p.SendQueryStatement(sd, values, binaryResults, binaryResults)
	} else {
		name = c.link.statements.name()
		p.SendPrepare(name, sql, oids)
		p.SendQueryPrepared(name, values, binaryResults, binaryResults)
	}
	if then != "" {
		p.SendQueryParams(then, nil, nil, nil, nil)
		r.then = true
	}
	fail := func(err error) (pgx.Rows, error) {
		_ = p.Close()
		cancel()
		return nil, r.explain(err)
	}
	if err := p.Sync(); err != nil {
		return fail(err)
	}
	if sd == nil {
		res, err := p.GetResults()
		if err != nil {
			return fail(err)
		}
		prep, ok := res.(*pgconn.StatementDescription)
		if !ok {
			return fail(fmt.Errorf("preparing a statement: unexpected %T", res))
		}
		prep.Name, prep.SQL = name, sql
		c.link.statements.add(prep)
	}
	res, err := p.GetResults()
	if err != nil {
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
// statement (and the pipeline it was sent in) and releases the bound; an
// error caused by the bound says so.
type boundedRows struct {
	pgx.Rows
	// pipeline, on a statement's first use or with a then statement,
	// still holds the Sync.
	pipeline *pgconn.Pipeline
	// then says a second statement follows in the pipeline (queryThen);
	// thenErr is its outcome, known after Close.
	then        bool
	thenErr     error
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
		completed := r.Rows.Err() == nil
		if r.then && completed {
			r.thenErr = discardNext(r.pipeline)
		}
		err := r.pipeline.Close()
		switch {
		case r.then && completed:
			// The statement completed and its rows are read: what fails
			// after it (the then statement, the Sync, the link) is not
			// its failure.
			if r.thenErr == nil {
				r.thenErr = r.explain(err)
			}
		default:
			r.closeErr = err
		}
	}
	r.cancel()
}

// ThenErr is the outcome of queryThen's second statement, after Close:
// nil when it ran, else why it did not (its own error, the link's, or the
// first statement's failure, which made the server skip it).
func (r *boundedRows) ThenErr() error {
	if err := r.Rows.Err(); err != nil {
		return fmt.Errorf("not run: the statement before it failed: %w", err)
	}
	return r.thenErr
}

// discardNext reads the next result of p and discards its rows.
func discardNext(p *pgconn.Pipeline) error {
	res, err := p.GetResults()
	if err != nil {
		return err
	}
	rr, ok := res.(*pgconn.ResultReader)
	if !ok {
		return fmt.Errorf("running a statement: unexpected %T", res)
	}
	_, err = rr.Close()
	return err
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
