package pgsession

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgproto3"
)

// ErrNoRows is what Row.Scan returns when a query returned no row.
var ErrNoRows = pgx.ErrNoRows

// Options say how Open connects; the zero value connects as the DSN
// says.
type Options struct {
	// App is the session's application_name ("" keeps the DSN's).
	App string
	// User logs in as this role instead of the DSN's user.
	User string
	// LocalAddr makes the TCP connection leave from this local address
	// (the DSN must name a TCP host).
	LocalAddr net.IP
}

// Session is one connection of its own to a server. It is not safe for
// concurrent use: one statement at a time.
type Session struct {
	conn *pgx.Conn
}

// Open connects to dsn (a connection string or URI as psql takes it).
func Open(ctx context.Context, dsn string, opts Options) (*Session, error) {
	cfg, err := pgx.ParseConfig(dsn)
	if err != nil {
		return nil, fmt.Errorf("parse DSN: %w", err)
	}
	if opts.App != "" {
		cfg.RuntimeParams["application_name"] = opts.App
	}
	if opts.User != "" {
		cfg.User = opts.User
	}
	if opts.LocalAddr != nil {
		d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: opts.LocalAddr}, KeepAlive: 5 * time.Minute}
		cfg.DialFunc = d.DialContext
	}
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return nil, err
	}
	return &Session{conn: conn}, nil
}

// PID is the process id of the session's backend as the server said at
// startup (through a pooler, the pooler's connection's backend).
func (s *Session) PID() int { return int(s.conn.PgConn().PID()) }

// Exec runs sql with args and returns how many rows it affected.
func (s *Session) Exec(ctx context.Context, sql string, args ...any) (int64, error) {
	tag, err := s.conn.Exec(ctx, sql, args...)
	if err != nil {
		return 0, err
	}
	return tag.RowsAffected(), nil
}

// Row is one result row to read into Go values.
type Row interface {
	// Scan reads the row's columns into dest, in order: pointers to Go
	// values, a nil pointer for a NULL where the pointer is to a pointer.
	// It returns ErrNoRows when there was no row.
	Scan(dest ...any) error
}

// QueryRow runs sql with args for (at most) one row.
func (s *Session) QueryRow(ctx context.Context, sql string, args ...any) Row {
	return s.conn.QueryRow(ctx, sql, args...)
}

// Query runs sql with args and calls each for every row in turn; an error
// from each stops the reading and is returned.
func (s *Session) Query(ctx context.Context, each func(Row) error, sql string, args ...any) error {
	rows, err := s.conn.Query(ctx, sql, args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		if err := each(rows); err != nil {
			return err
		}
	}
	return rows.Err()
}

// CopyTo runs sql, a COPY ... TO STDOUT, writing what it sends to w.
func (s *Session) CopyTo(ctx context.Context, w io.Writer, sql string) error {
	_, err := s.conn.PgConn().CopyTo(ctx, w, sql)
	return err
}

// SendUnread sends sql as a simple query and gives up the session for a
// raw socket that is never read: the server's rows pile up in the socket
// buffers until its backend blocks writing (wait_event ClientWrite). The
// session is unusable afterwards; closing the returned socket ends it.
func (s *Session) SendUnread(sql string) (io.Closer, error) {
	hc, err := s.conn.PgConn().Hijack()
	if err != nil {
		_ = s.conn.Close(context.Background())
		return nil, err
	}
	hc.Frontend.Send(&pgproto3.Query{String: sql})
	if err := hc.Frontend.Flush(); err != nil {
		_ = hc.Conn.Close()
		return nil, err
	}
	return hc.Conn, nil
}

// Closed reports whether the connection is closed (Close was called, or
// the server or the network ended it).
func (s *Session) Closed() bool { return s.conn.IsClosed() }

// Close ends the session.
func (s *Session) Close(ctx context.Context) error { return s.conn.Close(ctx) }

// SQLState returns the SQLSTATE of an error the server sent, or "" for
// any other error (a lost connection, a cancelled context).
func SQLState(err error) string {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		return pgErr.Code
	}
	return ""
}

// ServerMessage returns the message of an error the server sent, or ""
// for any other error.
func ServerMessage(err error) string {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		return pgErr.Message
	}
	return ""
}

// QuoteIdentifier quotes a possibly schema-qualified name
// ("schema.table"), each dot-separated part as an identifier.
func QuoteIdentifier(name string) string {
	return pgx.Identifier(strings.Split(name, ".")).Sanitize()
}

// QuoteName quotes name as one identifier, dots and all.
func QuoteName(name string) string {
	return pgx.Identifier{name}.Sanitize()
}
