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

	"github.com/pgrunbook/pgrunbook/internal/managed"
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
	// PoolerDSN, when set, is a PgBouncer admin console (database
	// pgbouncer): every snapshot maps each pooled backend to the client
	// the pooler has linked to it now.
	PoolerDSN string
	// FirstSnapshot sends the snapshot statement in the set-up's round
	// trip: the first Snapshot call, if it comes within half a second of
	// connecting, returns those rows instead of reading again. For a
	// caller whose first statement is a snapshot (a run's first step);
	// ignored with a PoolerDSN and through a pooler (prefetch.go).
	FirstSnapshot bool
	// WarmUp, with FirstSnapshot, is for a run that may signal: the
	// set-up's round trip also carries, behind the first snapshot and
	// never waited for, what makes the first signal and its verify cost
	// the server less (ahead.go): an empty PL/pgSQL block, which loads
	// the audit block's language, and parses of the signalling and
	// verify statements, which bring the catalog entries they read into
	// the backend's caches. It leaves nothing on the session and costs
	// no round trip: its answer comes right behind the snapshot's.
	WarmUp bool
}

// Client is pgrunbook's connection to one server.
type Client struct {
	conn *pgx.Conn
	cfg  *pgx.ConnConfig
	info ServerInfo
	// sql is the snapshot statement for the server's version, targetSQL
	// the same for some pids only (SnapshotOf); lastRows is how many rows
	// the last full snapshot had.
	sql, targetSQL snapshotSQL
	lastRows       int
	// target names the server in errors; want are the session settings
	// applied after each connect (settings.go).
	target string
	want   []setting
	// console is the --pooler admin console, nil without one
	// (pooler_console.go).
	console *Console
	// link bounds statements and sets the socket options (link.go).
	link *link
	// audit names the run in the server log line of each signal
	// (audit.go).
	audit auditState
	// prefetch is the snapshot read with the set-up statement, until the
	// first Snapshot call takes it; prefetchNext asks the next open (the
	// first, never a reconnect) to read one (prefetch.go).
	prefetch     *prefetched
	prefetchNext bool
	// ahead is the warm-up sent with the set-up statement, not yet read
	// (ahead.go); nil when there is none. warmUp asks for it on the first
	// connect (Options.WarmUp).
	ahead  *ahead
	warmUp bool
}

// ServerInfo describes the server and the role pgrunbook is connected as.
type ServerInfo struct {
	Host       string `json:"host"`
	Port       int    `json:"port"`
	User       string `json:"user"`
	Database   string `json:"database"`
	Version    string `json:"server_version"`
	VersionNum int    `json:"server_version_num"`
	// PID is pgrunbook's own backend, never a target: pg_backend_pid(),
	// which differs from the pid a pooler hands out in its place.
	PID        int        `json:"backend_pid"`
	Privileges Privileges `json:"privileges"`
	// Settings are pgrunbook's session settings as read back from the
	// server after they were applied.
	Settings map[string]string `json:"session_settings"`
	// Pooler is the connection pooler between pgrunbook and the server
	// (only session pooling is accepted), nil for a direct connection.
	Pooler *PoolerInfo `json:"pooler,omitempty"`
	// Console is the --pooler admin console, nil without one.
	Console *ConsoleInfo `json:"pooler_console,omitempty"`
	// Slots are the server's connection settings and cluster_name, read
	// in the set-up statement.
	Slots ServerSlots `json:"slots"`
	// Provider is the managed service the server was recognised as, nil
	// for none; ReservedSlots the connection reserves the server has and
	// which of them the role may use (provider.go).
	Provider      *managed.Provider       `json:"provider,omitempty"`
	ReservedSlots []managed.ReservedSlots `json:"reserved_slots,omitempty"`
}

// ServerSlots are the settings that say how many sessions the server
// takes, and its cluster_name.
type ServerSlots struct {
	ClusterName                  string `json:"cluster_name,omitempty"`
	MaxConnections               int    `json:"max_connections"`
	SuperuserReservedConnections int    `json:"superuser_reserved_connections"`
	// ReservedConnections exists from PostgreSQL 16 (0 before).
	ReservedConnections int `json:"reserved_connections"`
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

// Connect opens the run's connection, applies and verifies pgrunbook's
// session settings, reads the server's version and the role's privileges,
// and finds out whether a pooler sits in between: through a transaction
// or statement pooler it refuses (*PoolingRefusedError).
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
	lk := newLink(cfg, st)
	want := sessionSettings(st, lt)
	// Only application_name travels in the startup packet: every pooler
	// accepts it (PgBouncer tracks it per client), while PgBouncer
	// refuses startup parameters it does not know. The rest is set right
	// after connecting, where no pooler can refuse it, and read back.
	for _, s := range want {
		delete(cfg.RuntimeParams, s.name)
	}
	cfg.RuntimeParams["application_name"] = ApplicationName
	target := fmt.Sprintf("%s:%d/%s", cfg.Host, cfg.Port, cfg.Database)
	if strings.HasPrefix(cfg.Host, "/") {
		target = fmt.Sprintf("socket %s (port %d)/%s", cfg.Host, cfg.Port, cfg.Database)
	}

	c := &Client{cfg: cfg, target: target, want: want, link: lk, prefetchNext: opts.FirstSnapshot, warmUp: opts.WarmUp}
	if opts.PoolerDSN != "" {
		// First, so that a pooler on the way can be told by its console.
		console, err := OpenConsole(ctx, opts.PoolerDSN, st)
		if err != nil {
			return nil, err
		}
		c.console = console
		ci := console.Info()
		c.info.Console = &ci
	}
	if err := c.open(ctx); err != nil {
		if c.console != nil {
			c.console.Close(ctx)
		}
		return nil, err
	}
	return c, nil
}

// open makes a new connection from c.cfg and sets it up (settings.go);
// it replaces c's connection only when all of that succeeded.
func (c *Client) open(ctx context.Context) error {
	conn, err := pgx.ConnectConfig(ctx, c.cfg)
	if err != nil {
		return &ConnectError{Target: c.target, Reason: explainConnectError(err, c.cfg), Err: err}
	}
	// Setting up is a few statements and, through a pooler, probes of
	// at most probeTimeout each: bounded like statements, so that a link
	// that dies right after connecting does not hang the run.
	setupCtx, cancel := context.WithTimeout(ctx, c.link.statementBound()+2*probeTimeout)
	defer cancel()
	info, pre, tail, err := c.setUp(setupCtx, conn)
	if err != nil {
		closeCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
		defer cancel()
		_ = conn.Close(closeCtx)
		return err
	}
	info.Console = c.info.Console
	if c.ahead != nil {
		// Sent on the connection this one replaces (every statement
		// reads it first, so a reconnect finds none, as a rule).
		c.ahead.cancel()
	}
	c.conn, c.info, c.prefetch, c.ahead = conn, info, pre, tail
	c.sql, c.targetSQL = buildSnapshotSQL(info.VersionNum), buildTargetSnapshotSQL(info.VersionNum)
	return nil
}

// Info describes the server and the connected role.
func (c *Client) Info() ServerInfo { return c.info }

// Close closes the connection. It uses a context that a Ctrl-C has not
// cancelled, so the server sees a clean goodbye.
func (c *Client) Close(ctx context.Context) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
	defer cancel()
	if a := c.ahead; a != nil {
		// ahead.go: the server finished it long ago, as a rule; the
		// reading is bounded like the rest of closing.
		stop := context.AfterFunc(ctx, a.cancel)
		defer stop()
		c.settle()
	}
	_ = c.conn.Close(ctx)
	if c.console != nil {
		c.console.Close(ctx)
	}
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
		case "08P01":
			// PgBouncer answers a startup parameter it does not know so.
			return fmt.Sprintf("the server, or a pooler in between, refused the connection's startup: %s "+
				"(a pooler such as PgBouncer refuses startup parameters it does not track: drop them from the DSN, or list them in its ignore_startup_parameters)", pgErr.Message)
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
