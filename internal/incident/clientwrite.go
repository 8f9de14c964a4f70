package incident

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/pgrunbook/pgrunbook/internal/pg/pgsession"
)

// ClientNotReadingSQL is the statement a ClientNotReading session sends:
// rows of 16 MiB each. The server acts on a pending cancel only between
// rows; a signal also makes a blocked backend retry its write, and with
// small rows that retry can squeeze the rest of a row into whatever the
// socket has left, finish the row and act on the cancel after all. A
// row larger than the socket buffers can ever hold (a few MiB by
// default) keeps the backend inside one row for good.
const ClientNotReadingSQL = "SELECT n, repeat('x', 16 * 1024 * 1024) AS payload FROM generate_series(1, 1000) AS n"

// StalledClient is a staged client that sent a query returning a great
// many rows and then stopped reading its socket: once the socket buffers
// are full, its backend blocks writing the next row (state active,
// wait_event ClientWrite). pg_cancel_backend does not end such a backend
// while it is blocked, because the server acts on a cancel only between
// rows; pg_terminate_backend does.
type StalledClient struct {
	// PID is the backend process id (pg_stat_activity.pid).
	PID int
	// BackendStart is pg_stat_activity.backend_start of the backend.
	BackendStart time.Time
	// App is the session's application_name.
	App string
	// Query is the statement the backend is stuck sending rows for.
	Query string

	dsn       string
	conn      io.Closer // the raw socket, never read once the query is sent
	closeOnce sync.Once
}

// ClientNotReading opens a session that sends ClientNotReadingSQL and
// never reads the result. It returns once pg_stat_activity shows the
// backend active with wait_event ClientWrite. ctx bounds only the setup
// (at most 30 seconds when it has no deadline). Always Close it.
func ClientNotReading(ctx context.Context, dsn, app string) (*StalledClient, error) {
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, waitCap)
		defer cancel()
	}
	s, err := connect(ctx, dsn, app)
	if err != nil {
		return nil, err
	}
	// From here on nobody reads the connection: not reading the rows is
	// the point.
	sock, err := s.conn.SendUnread(ClientNotReadingSQL)
	if err != nil {
		return nil, fmt.Errorf("incident: send the %s query unread: %w", app, err)
	}
	c := &StalledClient{PID: s.PID, BackendStart: s.BackendStart, App: app, Query: ClientNotReadingSQL, dsn: dsn, conn: sock}
	if err := c.awaitClientWrite(ctx); err != nil {
		c.Close()
		return nil, err
	}
	return c, nil
}

// awaitClientWrite polls pg_stat_activity until the backend is active and
// waiting on ClientWrite.
func (c *StalledClient) awaitClientWrite(ctx context.Context) error {
	probe, err := probeConn(ctx, c.dsn)
	if err != nil {
		return err
	}
	defer probe.Close(context.Background())
	ticker := time.NewTicker(pollInterval)
	defer ticker.Stop()
	var state, waitEvent string
	for {
		err := probe.QueryRow(ctx, `
SELECT coalesce(state, ''), coalesce(wait_event, '')
FROM pg_stat_activity WHERE pid = $1 AND backend_start = $2`, c.PID, c.BackendStart).Scan(&state, &waitEvent)
		switch {
		case errors.Is(err, pgsession.ErrNoRows):
			return fmt.Errorf("incident: %s session (pid %d) disappeared before it blocked on ClientWrite", c.App, c.PID)
		case err != nil && ctx.Err() == nil:
			return fmt.Errorf("incident: watch pg_stat_activity: %w", err)
		case err == nil && state == "active" && waitEvent == "ClientWrite":
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("incident: %s session (pid %d) not blocked on ClientWrite (last seen: state %q, wait_event %q): %w",
				c.App, c.PID, state, waitEvent, ctx.Err())
		case <-ticker.C:
		}
	}
}

// Close ends the session: it closes the socket, which makes the blocked
// write fail and the backend exit, and terminates the backend too if it
// is still there with the same backend_start. Errors are ignored; Close
// is idempotent.
func (c *StalledClient) Close() {
	c.closeOnce.Do(func() {
		_ = c.conn.Close()
		ctx, cancel := context.WithTimeout(context.Background(), closeTimeout)
		defer cancel()
		probe, err := probeConn(ctx, c.dsn)
		if err != nil {
			return
		}
		defer probe.Close(context.Background())
		// The identity check keeps a reused pid safe.
		_, _ = probe.Exec(ctx, `SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE pid = $1 AND backend_start = $2`,
			c.PID, c.BackendStart)
	})
}
