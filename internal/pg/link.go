package pg

// The link to the server: how long pgrunbook waits for it and how its
// socket notices that the network is gone. How a statement crosses it in
// one round trip is in query.go.

import (
	"context"
	"fmt"
	"net"
	"time"

	"github.com/jackc/pgx/v5"
)

// StatementGrace is how much longer than statement_timeout pgrunbook waits
// for the answer to a statement before it gives the connection up as
// lost. A working server always answers within statement_timeout (with
// the result or with its own timeout error); the grace covers the trip
// back over a slow link. Without this client-side bound, a link that
// stops carrying packets without closing (a black-holed route, a dead NAT
// entry) would leave the run waiting forever.
const StatementGrace = 2 * time.Second

// keepAliveProbes is how many unanswered TCP keepalive probes end the
// connection.
const keepAliveProbes = 3

// link holds the bounds of one client's conversation with the server.
type link struct {
	// statementTimeout is the server-side statement_timeout.
	statementTimeout time.Duration
	// connectTimeout bounds a connection attempt, as for the first connect.
	connectTimeout time.Duration
	statements     statements
}

// newLink derives the link's bounds from the statement timeout and sets
// up cfg to match: pgrunbook's dialer (see dialer) and statements sent
// in one round trip (see Client.query). It must be called after
// cfg.ConnectTimeout is settled.
func newLink(cfg *pgx.ConnConfig, statementTimeout time.Duration) *link {
	l := &link{statementTimeout: statementTimeout, connectTimeout: cfg.ConnectTimeout}
	cfg.DialFunc = l.dialer().DialContext
	// A statement sent with pgx directly rather than through
	// Client.query still costs one round trip, not two: pgx prepares
	// nothing on the server first.
	cfg.DefaultQueryExecMode = pgx.QueryExecModeExec
	return l
}

// statementBound is how long pgrunbook waits for the answer to one
// statement: statement_timeout plus StatementGrace.
func (l *link) statementBound() time.Duration { return l.statementTimeout + StatementGrace }

// userTimeout is TCP_USER_TIMEOUT: data the server has not acknowledged
// for this long makes the kernel close the connection. It is the
// statement bound, so the socket never gives up on a live server before
// pgrunbook's own deadline would.
func (l *link) userTimeout() time.Duration { return l.statementBound() }

// keepAlive probes an idle connection (while an operator reads a
// confirmation, or between polls) every quarter of the statement bound,
// at least every second, and gives it up after keepAliveProbes unanswered
// probes: a link that died while idle is noticed within about one
// statement bound, and the next statement fails at once instead of
// waiting for its deadline.
func (l *link) keepAlive() net.KeepAliveConfig {
	every := max(l.statementBound()/4, time.Second)
	return net.KeepAliveConfig{Enable: true, Idle: every, Interval: every, Count: keepAliveProbes}
}

// dialer opens pgrunbook's connections: TCP keepalives and, on Linux,
// TCP_USER_TIMEOUT on TCP sockets (see setUserTimeout); Unix-domain
// sockets are left as they are. The dial itself is bounded by the
// connect timeout.
func (l *link) dialer() *net.Dialer {
	return &net.Dialer{
		Timeout:         l.connectTimeout,
		KeepAliveConfig: l.keepAlive(),
		Control:         setUserTimeout(l.userTimeout()),
	}
}

// statementContext bounds one statement on the client side: the context
// ends statementBound from now, or with ctx.
func (c *Client) statementContext(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, c.link.statementBound())
}

// noAnswerError is a statement that the server did not answer within
// the statement bound: the link is down or the server hangs.
type noAnswerError struct {
	bound *link
	err   error
}

func (e *noAnswerError) Error() string {
	return fmt.Sprintf("no answer from the server within %s (statement_timeout %s + %s): the network or the server is down",
		e.bound.statementBound(), e.bound.statementTimeout, StatementGrace)
}

func (e *noAnswerError) Unwrap() error { return e.err }
