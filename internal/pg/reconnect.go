package pg

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// ConnectionLostError is returned when a statement failed because the
// connection to the server is gone: our backend was terminated, the server
// restarted, or the network failed. The statement's effect is unknown.
type ConnectionLostError struct {
	Err error
	// Unsent is true when the statement was never sent: the connection
	// was known to be closed before it (Signal).
	Unsent bool
}

func (e *ConnectionLostError) Error() string {
	if e.Unsent {
		return "lost the connection to the server before the statement was sent: " + oneLine(e.Err)
	}
	return "lost the connection to the server: " + oneLine(e.Err)
}

// NotSent marks, for the engine, a statement that never left pgrunbook:
// sending it after a reconnect is sending it for the first time.
func (e *ConnectionLostError) NotSent() bool { return e.Unsent }

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
// configuration and set up the same way: settings applied and verified,
// a pooler in between told again. The new backend has a new pid
// (pg_backend_pid()), which Info reports.
func (c *Client) Reconnect(ctx context.Context) error {
	// The connect itself, the settings' set-up and read-back, and the
	// probes that tell a pooler: bounded together.
	ctx, cancel := context.WithTimeout(ctx, c.cfg.ConnectTimeout+2*probeTimeout+time.Second)
	defer cancel()
	old := c.conn
	if err := c.open(ctx); err != nil {
		var ce *ConnectError
		if errors.As(err, &ce) {
			return fmt.Errorf("reconnecting: %s", ce.Reason)
		}
		return fmt.Errorf("reconnecting: %w", err)
	}
	closeCtx, stop := context.WithTimeout(context.WithoutCancel(ctx), time.Second)
	defer stop()
	_ = old.Close(closeCtx)
	return nil
}
