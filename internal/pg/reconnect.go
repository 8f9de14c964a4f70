package pg

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// ConnectionLostError is returned when a statement failed because the
// connection to the server is gone: our backend was terminated, the server
// restarted, or the network failed. The statement's effect is unknown.
type ConnectionLostError struct {
	Err error
}

func (e *ConnectionLostError) Error() string {
	return "lost the connection to the server: " + oneLine(e.Err)
}

func (e *ConnectionLostError) Unwrap() error { return e.Err }

// ConnectionLost marks the error for callers that must not import this
// package (the engine checks for this method).
func (e *ConnectionLostError) ConnectionLost() bool { return true }

// lost wraps err as a ConnectionLostError when the connection died with it.
func (c *Client) lost(err error) error {
	if err == nil || !c.conn.IsClosed() {
		return err
	}
	var cl *ConnectionLostError
	if errors.As(err, &cl) {
		return err
	}
	return &ConnectionLostError{Err: err}
}

// Reconnect replaces a lost connection with a new one made from the same
// configuration. The new backend has a new pid, which Info reports.
func (c *Client) Reconnect(ctx context.Context) error {
	ctx, cancel := c.connectContext(ctx)
	defer cancel()
	conn, err := pgx.ConnectConfig(ctx, c.cfg)
	if err != nil {
		return fmt.Errorf("reconnecting: %s", explainConnectError(err, c.cfg))
	}
	old := c.conn
	c.conn = conn
	c.info.PID = int(conn.PgConn().PID())
	closeCtx, stop := context.WithTimeout(context.WithoutCancel(ctx), time.Second)
	defer stop()
	_ = old.Close(closeCtx)
	return nil
}
