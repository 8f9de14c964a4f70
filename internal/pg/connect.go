package pg

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// ApplicationName is how pgrunbook's own session appears in pg_stat_activity.
const ApplicationName = "pgrunbook"

// Defaults for the bounds on pgrunbook's own statements.
const (
	DefaultStatementTimeout = 10 * time.Second
	DefaultLockTimeout      = 2 * time.Second
	DefaultConnectTimeout   = 10 * time.Second
)

// Options configure a connection. The zero value uses the defaults.
type Options struct {
	// DSN is a connection string or URI as psql takes it; empty means the
	// libpq environment variables (PGHOST, PGPORT, PGUSER, PGPASSWORD,
	// PGDATABASE, PGSERVICE, PGSSLMODE, PGPASSFILE) and their defaults.
	DSN string
	// StatementTimeout bounds every statement pgrunbook sends.
	// Default is DefaultStatementTimeout.
	StatementTimeout time.Duration
	// LockTimeout bounds any lock wait of pgrunbook's statements.
	// Default is DefaultLockTimeout.
	LockTimeout time.Duration
}

// Client is pgrunbook's connection to one server.
type Client struct {
	conn *pgx.Conn
	cfg  *pgx.ConnConfig
	info ServerInfo
	sql  snapshotSQL

	server serverFacts // read by Connect (server.go)
}

// ServerInfo describes the server and the role pgrunbook is connected as.
type ServerInfo struct {
	Host       string `json:"host"`
	Port       int    `json:"port"`
	User       string `json:"user"`
	Database   string `json:"database"`
	Version    string `json:"server_version"`
	VersionNum int    `json:"server_version_num"`
	// PID is pgrunbook's own backend, never a target.
	PID        int        `json:"backend_pid"`
	Privileges Privileges `json:"privileges"`
}

// Privileges are the role attributes that decide what pgrunbook may see
// and signal.
type Privileges struct {
	Superuser bool `json:"superuser"`
	// SignalBackend: member of pg_signal_backend, may signal sessions of
	// other non-superuser roles.
	SignalBackend bool `json:"pg_signal_backend"`
	// ReadAllStats: member of pg_read_all_stats, sees every session's
	// query, state and start times.
	ReadAllStats bool `json:"pg_read_all_stats"`
}

// ConnectError is a failure to connect, explained in one line.
type ConnectError struct {
	Target string // host:port/database
	Reason string
	Err    error
}

func (e *ConnectError) Error() string {
	return fmt.Sprintf("cannot connect to %s: %s", e.Target, e.Reason)
}

func (e *ConnectError) Unwrap() error { return e.Err }

// Connect opens the run's connection and reads the server's version and
// the role's privileges.
func Connect(ctx context.Context, opts Options) (*Client, error) {
	cfg, err := pgx.ParseConfig(opts.DSN)
	if err != nil {
		return nil, &ConnectError{Target: "the server", Reason: "bad connection string: " + redactParseError(err), Err: err}
	}
	if cfg.ConnectTimeout == 0 {
		cfg.ConnectTimeout = DefaultConnectTimeout
	}
	st := orDefault(opts.StatementTimeout, DefaultStatementTimeout)
	lt := orDefault(opts.LockTimeout, DefaultLockTimeout)
	cfg.RuntimeParams["application_name"] = ApplicationName
	cfg.RuntimeParams["statement_timeout"] = millisecondsUp(st)
	cfg.RuntimeParams["lock_timeout"] = millisecondsUp(lt)
	cfg.RuntimeParams["default_transaction_read_only"] = "on"
	cfg.RuntimeParams["idle_in_transaction_session_timeout"] = "60000"
	target := fmt.Sprintf("%s:%d/%s", cfg.Host, cfg.Port, cfg.Database)
	if strings.HasPrefix(cfg.Host, "/") {
		target = fmt.Sprintf("socket %s (port %d)/%s", cfg.Host, cfg.Port, cfg.Database)
	}

	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return nil, &ConnectError{Target: target, Reason: explainConnectError(err, cfg), Err: err}
	}
	c := &Client{conn: conn, cfg: cfg}
	c.info = ServerInfo{Host: cfg.Host, Port: int(cfg.Port), PID: int(conn.PgConn().PID())}
	err = conn.QueryRow(ctx, infoSQL).Scan(&c.info.User, &c.info.Database, &c.info.Version, &c.info.VersionNum,
		&c.info.Privileges.Superuser, &c.info.Privileges.SignalBackend, &c.info.Privileges.ReadAllStats)
	if err != nil {
		conn.Close(context.WithoutCancel(ctx))
		return nil, &ConnectError{Target: target, Reason: "connected, but could not read the server's version and the role's privileges: " + oneLine(err), Err: err}
	}
	c.sql = buildSnapshotSQL(c.info.VersionNum)
	if err := c.readServerFacts(ctx, target); err != nil {
		return nil, err
	}
	return c, nil
}

const infoSQL = `SELECT current_user, current_database(), current_setting('server_version'),
       current_setting('server_version_num')::int,
       r.rolsuper,
       pg_has_role('pg_signal_backend', 'USAGE'),
       pg_has_role('pg_read_all_stats', 'USAGE')
FROM pg_roles r WHERE r.rolname = current_user`

// Info describes the server and the connected role.
func (c *Client) Info() ServerInfo { return c.info }

// Close closes the connection. It uses a context that a Ctrl-C has not
// cancelled, so the server sees a clean goodbye.
func (c *Client) Close(ctx context.Context) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
	defer cancel()
	_ = c.conn.Close(ctx)
}

// millisecondsUp renders a positive duration as whole milliseconds,
// rounded up: PostgreSQL reads 0 as "no timeout".
func millisecondsUp(d time.Duration) string {
	return fmt.Sprint(int64((d + time.Millisecond - 1) / time.Millisecond))
}

func orDefault(d, def time.Duration) time.Duration {
	if d <= 0 {
		return def
	}
	return d
}

// explainConnectError turns a driver error into one line an operator can
// act on, classified by SQLSTATE or network error, never by message text.
func explainConnectError(err error, cfg *pgx.ConnConfig) string {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		switch pgErr.Code {
		case "28P01":
			return fmt.Sprintf("password authentication failed for user %q (check PGPASSWORD, ~/.pgpass or the DSN)", cfg.User)
		case "28000":
			return fmt.Sprintf("the server refused user %q: %s", cfg.User, pgErr.Message)
		case "3D000":
			return fmt.Sprintf("database %q does not exist (choose one with -d or PGDATABASE)", cfg.Database)
		case "53300":
			return "too many connections: the server has no free connection slot (superusers have reserved slots)"
		case "57P03":
			return "the server is starting up or shutting down"
		}
		return fmt.Sprintf("%s (SQLSTATE %s)", pgErr.Message, pgErr.Code)
	}
	var netErr net.Error
	switch {
	case errors.Is(err, syscall.ECONNREFUSED):
		return "connection refused: is the server running and accepting connections there?"
	case errors.Is(err, syscall.ENOENT):
		return "no server socket there: is the server running, and are host and port right?"
	case errors.Is(err, context.DeadlineExceeded) || errors.As(err, &netErr) && netErr.Timeout():
		return "timed out: the server did not answer"
	case errors.Is(err, context.Canceled):
		return "interrupted"
	}
	var dnsErr *net.DNSError
	if errors.As(err, &dnsErr) {
		return fmt.Sprintf("unknown host %q", dnsErr.Name)
	}
	return oneLine(err)
}

// redactParseError keeps a DSN parse error from echoing a password.
func redactParseError(err error) string {
	var pe *pgconn.ParseConfigError
	if errors.As(err, &pe) {
		if pe.Unwrap() != nil {
			return oneLine(pe.Unwrap())
		}
		return "cannot parse it"
	}
	return "cannot parse it"
}

func oneLine(err error) string {
	s := err.Error()
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = s[:i]
	}
	return s
}
