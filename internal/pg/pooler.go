package pg

import (
	"context"
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
)

// Pool modes, as PgBouncer names them. ModeTransactionOrStatement is what
// pgrunbook can tell without a console: statements of one client do not
// keep their server session.
const (
	ModeSession                = "session"
	ModeTransaction            = "transaction"
	ModeStatement              = "statement"
	ModeTransactionOrStatement = "transaction or statement"
	// ModeUnknown is the mode of a pooled backend the console lists but
	// whose pool's mode it does not say.
	ModeUnknown = "unknown"
)

// probeTimeout bounds each probe of a pooler: the second client that
// checks whether pgrunbook's server session is shared, and the attempt to
// reach the pooler's admin console.
const probeTimeout = 3 * time.Second

// PoolerInfo describes a connection pooler (or proxy) between pgrunbook
// and the server.
type PoolerInfo struct {
	// Addr is host:port pgrunbook connected to, the pooler's.
	Addr string `json:"address"`
	// Name is what the pooler says it is (SHOW VERSION, e.g. "PgBouncer
	// 1.18.0") when its admin console could be reached, else "".
	Name string `json:"name,omitempty"`
	// PoolMode is session, transaction, statement, or "transaction or
	// statement" when only pgrunbook's probes could tell.
	PoolMode string `json:"pool_mode"`
	// ProtocolPID is the pid the pooler sent in its BackendKeyData, which
	// is not the server's pg_backend_pid().
	ProtocolPID int `json:"protocol_pid"`
	// Evidence says how the pooler and its mode were told.
	Evidence string `json:"evidence"`
}

// Describe names the pooler for a message: "PgBouncer 1.18.0 at
// 127.0.0.1:6432" or "a connection pooler at 127.0.0.1:6432".
func (p *PoolerInfo) Describe() string {
	if p.Name != "" {
		return p.Name + " at " + p.Addr
	}
	return "a connection pooler at " + p.Addr
}

// PoolingRefusedError is returned by Connect when pgrunbook's connection
// goes through a transaction or statement pooler: its statements could
// run on different server sessions, so its session settings, the
// exclusion of its own backend and its waits would not hold.
type PoolingRefusedError struct {
	Pooler PoolerInfo
}

func (e *PoolingRefusedError) Error() string {
	return fmt.Sprintf("refusing to run through %s (%s pooling): pgrunbook's statements could land on different server sessions there, "+
		"so its settings and the exclusion of its own session would not hold; give -d a connection string that reaches the PostgreSQL server directly",
		e.Pooler.Describe(), e.Pooler.PoolMode)
}

// ownBackend is pgrunbook's server session as the server sees it.
type ownBackend struct {
	pid        int
	clientAddr string // host(inet_client_addr()), "" over a Unix socket
	clientPort int    // inet_client_port(), -1 over a Unix socket
}

// detectPooler tells whether a pooler sits between pgrunbook and the
// server, and in which mode. A pooler answers the startup with a key of
// its own, so the protocol's pid differs from pg_backend_pid(); behind
// transaction or statement pooling pgrunbook's second transaction may run
// on another server session (pid2), or, when it did not, another client
// is given pgrunbook's server session while pgrunbook stays connected.
// The pooler's admin console, when reachable (the --pooler one, else the
// pgbouncer database on the same address with the same credentials),
// names the pooler and its mode for certain. It returns nil for a direct
// connection and *PoolingRefusedError for anything but session pooling.
func (c *Client) detectPooler(ctx context.Context, conn *pgx.Conn, own ownBackend, pid2 int) (*PoolerInfo, error) {
	protoPID := int(conn.PgConn().PID())
	if protoPID == own.pid && pid2 == own.pid {
		return nil, nil
	}
	p := &PoolerInfo{Addr: net.JoinHostPort(c.cfg.Host, strconv.Itoa(int(c.cfg.Port))), ProtocolPID: protoPID}
	var evidence []string
	if protoPID != own.pid {
		evidence = append(evidence, fmt.Sprintf("the connection's pid %d is not the server's pg_backend_pid() %d", protoPID, own.pid))
	}
	switch {
	case pid2 != own.pid:
		p.PoolMode = ModeTransactionOrStatement
		evidence = append(evidence, fmt.Sprintf("the server session changed between two transactions (pid %d, then %d)", own.pid, pid2))
	case c.sharedBackend(ctx, own.pid):
		p.PoolMode = ModeTransactionOrStatement
		evidence = append(evidence, fmt.Sprintf("another client was given pgrunbook's server session (pid %d) while pgrunbook stayed connected", own.pid))
	}
	if name, mode := c.askConsole(ctx, own); name != "" {
		p.Name = name
		if mode != "" {
			evidence = append(evidence, fmt.Sprintf("its admin console reports pool_mode %s", mode))
			// The console is sure; a probe that saw sharing is too.
			if p.PoolMode == "" || mode != ModeSession {
				p.PoolMode = mode
			}
		}
	}
	if p.PoolMode == "" {
		p.PoolMode = ModeSession
		evidence = append(evidence, "the server session stayed pgrunbook's across transactions and was not given to another client")
	}
	p.Evidence = strings.Join(evidence, "; ")
	if p.PoolMode != ModeSession {
		return nil, &PoolingRefusedError{Pooler: *p}
	}
	return p, nil
}

// sharedBackend connects a second, short-lived client through the pooler
// and reports whether it is given pgrunbook's server session: a pooler
// that hands out idle server sessions in last-in-first-out order (as
// PgBouncer does) gives the most recently released one, pgrunbook's, if
// it pools by transaction or statement. A probe that fails or times out
// (a full session pool makes the new client wait) proves nothing.
func (c *Client) sharedBackend(ctx context.Context, pid int) bool {
	ctx, cancel := context.WithTimeout(ctx, probeTimeout)
	defer cancel()
	cfg := c.cfg.Copy()
	cfg.RuntimeParams["application_name"] = ApplicationName + "-pooler-probe"
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return false
	}
	defer closeQuietly(ctx, conn)
	var other int
	if err := conn.QueryRow(ctx, "SELECT pg_backend_pid()", pgx.QueryExecModeSimpleProtocol).Scan(&other); err != nil {
		return false
	}
	return other == pid
}

// askConsole asks a pooler admin console what the pooler is and in which
// mode it pools pgrunbook's server session: the --pooler console if
// pgrunbook's session goes through that pooler, else the pgbouncer
// database on the address pgrunbook connected to, with the same
// credentials (PgBouncer lets admin_users and stats_users in). It returns
// "" when no console answers.
func (c *Client) askConsole(ctx context.Context, own ownBackend) (name, mode string) {
	if c.console != nil {
		if mode, ok := c.console.ModeOf(ctx, own); ok {
			return c.console.info.Version, mode
		}
	}
	ctx, cancel := context.WithTimeout(ctx, probeTimeout)
	defer cancel()
	cfg := c.cfg.Copy()
	cfg.Database = PgBouncerAdminDB
	console, err := openConsole(ctx, cfg, probeTimeout)
	if err != nil {
		return "", ""
	}
	defer console.Close(ctx)
	mode, _ = console.ModeOf(ctx, own)
	return console.info.Version, mode
}

func closeQuietly(ctx context.Context, conn *pgx.Conn) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Second)
	defer cancel()
	_ = conn.Close(ctx)
}
