package pg

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/pgrunbook/pgrunbook/internal/pg/pgtest"
)

// rawSession is a session of one test for the statements the incident
// package does not stage (a REPEATABLE READ reader, DDL behind it, a COPY
// from a program): it runs its setup statements, then at most one
// statement in the background. It is ended when the test ends.
type rawSession struct {
	pid  int
	app  string
	conn *pgx.Conn
	done chan struct{}
	err  error // valid once done is closed
}

// openSession connects with application_name app and runs setup, each
// statement in turn, on the session's connection.
func openSession(t *testing.T, ctx context.Context, dsn, app string, setup ...string) *rawSession {
	t.Helper()
	cfg, err := pgx.ParseConfig(dsn)
	if err != nil {
		t.Fatal(err)
	}
	cfg.RuntimeParams["application_name"] = app
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		t.Fatalf("connect %s: %v", app, err)
	}
	s := &rawSession{pid: int(conn.PgConn().PID()), app: app, conn: conn}
	t.Cleanup(s.close)
	for _, q := range setup {
		if _, err := conn.Exec(ctx, q); err != nil {
			t.Fatalf("%s: %s: %v", app, q, err)
		}
	}
	return s
}

// start runs sql in the background.
func (s *rawSession) start(sql string) {
	s.done = make(chan struct{})
	go func() {
		defer close(s.done)
		_, s.err = s.conn.Exec(context.Background(), sql)
	}()
}

// close ends the session: a background statement still running is
// ended by terminating the backend from another connection.
func (s *rawSession) close() {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if s.done != nil {
		select {
		case <-s.done:
		default:
			if ctl, err := pgx.Connect(ctx, pgtest.DSN()); err == nil {
				_, _ = ctl.Exec(ctx, "SELECT pg_terminate_backend($1)", s.pid)
				_ = ctl.Close(ctx)
			}
			select {
			case <-s.done:
			case <-ctx.Done():
			}
		}
	}
	_ = s.conn.Close(ctx)
}

// awaitActive polls pg_stat_activity from ctl until the session is active
// and waits on an event of the given type ("" for none).
func awaitActive(t *testing.T, ctx context.Context, ctl *pgx.Conn, s *rawSession, waitEventType string) {
	t.Helper()
	for {
		var ok bool
		err := ctl.QueryRow(ctx, `SELECT EXISTS (SELECT FROM pg_stat_activity
WHERE pid = $1 AND state = 'active' AND coalesce(wait_event_type, '') = $2)`, s.pid, waitEventType).Scan(&ok)
		if err != nil {
			t.Fatalf("watching %s (pid %d): %v", s.app, s.pid, err)
		}
		if ok {
			return
		}
		if s.done != nil {
			select {
			case <-s.done:
				t.Fatalf("%s (pid %d) ended before it was seen active with wait %q: %v", s.app, s.pid, waitEventType, s.err)
			default:
			}
		}
		select {
		case <-ctx.Done():
			t.Fatalf("%s (pid %d) not active with wait %q: %v", s.app, s.pid, waitEventType, ctx.Err())
		case <-time.After(10 * time.Millisecond):
		}
	}
}
