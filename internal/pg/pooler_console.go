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

// PgBouncerAdminDB is the virtual database of PgBouncer's admin console.
const PgBouncerAdminDB = "pgbouncer"

// ConsoleInfo describes a pooler admin console pgrunbook reads.
type ConsoleInfo struct {
	// Addr is host:port of the console.
	Addr string `json:"address"`
	// Version is what SHOW VERSION says, e.g. "PgBouncer 1.18.0".
	Version string `json:"version"`
}

// Console is a connection to a PgBouncer admin console (database
// pgbouncer). The console speaks only the simple query protocol and
// answers SHOW commands with text columns, which are read by name so that
// columns added by later versions do not matter.
type Console struct {
	cfg     *pgx.ConnConfig
	conn    *pgx.Conn
	info    ConsoleInfo
	timeout time.Duration
	// modes caches SHOW POOLS: pool_mode by database and user.
	modes map[poolKey]string
}

type poolKey struct{ database, user string }

// OpenConsole connects to the PgBouncer admin console at dsn and checks
// that it is one (SHOW VERSION). timeout bounds each later SHOW.
func OpenConsole(ctx context.Context, dsn string, timeout time.Duration) (*Console, error) {
	cfg, err := pgx.ParseConfig(dsn)
	if err != nil {
		return nil, &ConnectError{Target: "the --pooler console", Reason: "bad connection string: " + redactParseError(err), Err: err}
	}
	return openConsole(ctx, cfg, timeout)
}

func openConsole(ctx context.Context, cfg *pgx.ConnConfig, timeout time.Duration) (*Console, error) {
	cfg.DefaultQueryExecMode = pgx.QueryExecModeSimpleProtocol
	if cfg.ConnectTimeout == 0 {
		cfg.ConnectTimeout = DefaultConnectTimeout
	}
	cfg.RuntimeParams["application_name"] = ApplicationName
	c := &Console{cfg: cfg, timeout: orDefault(timeout, DefaultStatementTimeout), modes: map[poolKey]string{},
		info: ConsoleInfo{Addr: net.JoinHostPort(cfg.Host, strconv.Itoa(int(cfg.Port)))}}
	if err := c.connect(ctx); err != nil {
		return nil, err
	}
	return c, nil
}

// connect (re)opens the console connection and reads SHOW VERSION.
func (c *Console) connect(ctx context.Context) error {
	target := "the pooler console at " + c.info.Addr
	conn, err := pgx.ConnectConfig(ctx, c.cfg)
	if err != nil {
		return &ConnectError{Target: target, Reason: explainConnectError(err, c.cfg), Err: err}
	}
	c.conn = conn
	rows, err := c.show(ctx, "SHOW VERSION")
	if err == nil && (len(rows) != 1 || !strings.HasPrefix(rows[0]["version"], "PgBouncer")) {
		err = fmt.Errorf("SHOW VERSION gives %v", rows)
	}
	if err != nil {
		closeQuietly(ctx, conn)
		return &ConnectError{Target: target, Err: err,
			Reason: "not a PgBouncer admin console (connect to its database pgbouncer as one of its admin_users or stats_users): " + oneLine(err)}
	}
	c.info.Version = rows[0]["version"]
	return nil
}

// Info describes the console.
func (c *Console) Info() ConsoleInfo { return c.info }

// Close closes the console connection.
func (c *Console) Close(ctx context.Context) {
	if c.conn != nil {
		closeQuietly(ctx, c.conn)
	}
}

// show runs one SHOW command and returns its rows as column name to text
// value (NULL columns are absent). A console connection that was lost is
// opened again first.
func (c *Console) show(ctx context.Context, cmd string) ([]map[string]string, error) {
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	if c.conn.IsClosed() {
		if err := c.connect(ctx); err != nil {
			return nil, err
		}
	}
	rows, err := c.conn.Query(ctx, cmd)
	if err != nil {
		return nil, fmt.Errorf("%s on the pooler console: %w", cmd, err)
	}
	defer rows.Close()
	var out []map[string]string
	fields := rows.FieldDescriptions()
	for rows.Next() {
		raw := rows.RawValues()
		m := make(map[string]string, len(fields))
		for i, f := range fields {
			if i < len(raw) && raw[i] != nil {
				m[f.Name] = string(raw[i])
			}
		}
		out = append(out, m)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("%s on the pooler console: %w", cmd, err)
	}
	return out, nil
}

// ModeOf finds pgrunbook's own server session among the console's server
// connections and returns its pool's mode; false when this pooler does
// not carry pgrunbook's session.
func (c *Console) ModeOf(ctx context.Context, own ownBackend) (string, bool) {
	servers, err := c.show(ctx, "SHOW SERVERS")
	if err != nil {
		return "", false
	}
	for _, s := range servers {
		srv := parseServer(s)
		if srv.pid == own.pid && srv.matchesClient(own.clientAddr, own.clientPort) {
			mode, err := c.poolMode(ctx, poolKey{srv.database, srv.user})
			if err != nil || mode == ModeUnknown {
				return "", false
			}
			return mode, true
		}
	}
	return "", false
}

// poolMode returns the pool mode of a database and user from SHOW POOLS,
// read again when a pool is not known yet.
func (c *Console) poolMode(ctx context.Context, k poolKey) (string, error) {
	if m, ok := c.modes[k]; ok {
		return m, nil
	}
	pools, err := c.show(ctx, "SHOW POOLS")
	if err != nil {
		return "", err
	}
	for _, p := range pools {
		c.modes[poolKey{p["database"], p["user"]}] = p["pool_mode"]
	}
	if c.modes[k] == "" {
		// A pool that SHOW POOLS does not list (yet), or a version
		// without the column: mapped all the same.
		return ModeUnknown, nil
	}
	return c.modes[k], nil
}

// pooledServer is one row of SHOW SERVERS: a server connection of the
// pooler, which is a backend in pg_stat_activity.
type pooledServer struct {
	pid            int    // remote_pid: the backend's pid
	localAddr      string // the pooler's end, the backend's client_addr ("unix" for a socket)
	localPort      int    // the backend's client_port
	database, user string
	link           string // ptr of the client linked now, "" if none
	mode           string
}

// matchesClient reports whether the server connection is the one the
// server sees connecting from addr:port (a backend's client_addr and
// client_port; "" and -1 over a Unix socket).
func (s pooledServer) matchesClient(addr string, port int) bool {
	if port == -1 || addr == "" {
		return s.localAddr == "unix"
	}
	return s.localAddr == addr && s.localPort == port
}

func parseServer(m map[string]string) pooledServer {
	s := pooledServer{localAddr: m["local_addr"], database: m["database"], user: m["user"], link: m["link"]}
	s.pid, _ = strconv.Atoi(m["remote_pid"])
	s.localPort, _ = strconv.Atoi(m["local_port"])
	if s.link == "(nil)" {
		s.link = ""
	}
	return s
}

// pooledClient is one row of SHOW CLIENTS.
type pooledClient struct {
	addr, app, user string
	port            int
	connectTime     time.Time
	// key identifies the client across two reads: its id (1.24+), else
	// ptr, address, port and connect_time together, since PgBouncer
	// before 1.24 reuses the ptr of a client that left.
	key string
}

func parseClient(m map[string]string) pooledClient {
	c := pooledClient{addr: m["addr"], app: m["application_name"], user: m["user"]}
	c.port, _ = strconv.Atoi(m["port"])
	c.connectTime, _ = time.Parse("2006-01-02 15:04:05 MST", m["connect_time"])
	if id, ok := m["id"]; ok {
		c.key = "id " + id
	} else {
		c.key = strings.Join([]string{m["ptr"], m["addr"], m["port"], m["connect_time"]}, "|")
	}
	return c
}

// poolMap is what the console says about its server connections at one
// moment: each with its pool's mode and the client linked to it.
type poolMap struct {
	console string // "PgBouncer 1.18.0 at 127.0.0.1:6432"
	servers []pooledServer
	// linked holds the client linked to each server, by the server's
	// index; a server whose client could not be told for sure (the link
	// changed while it was read) is in unsure instead.
	linked map[int]pooledClient
	unsure map[int]bool
}

// Map reads SHOW CLIENTS, SHOW SERVERS and SHOW CLIENTS again (and SHOW
// POOLS for a pool not seen before): a server's link is trusted only if
// the client it names is the same client in both reads of SHOW CLIENTS,
// so a client that left and whose ptr was reused in between is never
// taken for the linked one.
func (c *Console) Map(ctx context.Context) (*poolMap, error) {
	before, err := c.show(ctx, "SHOW CLIENTS")
	if err != nil {
		return nil, err
	}
	servers, err := c.show(ctx, "SHOW SERVERS")
	if err != nil {
		return nil, err
	}
	after, err := c.show(ctx, "SHOW CLIENTS")
	if err != nil {
		return nil, err
	}
	byPtr := func(rows []map[string]string) map[string]pooledClient {
		m := make(map[string]pooledClient, len(rows))
		for _, r := range rows {
			m[r["ptr"]] = parseClient(r)
		}
		return m
	}
	first, second := byPtr(before), byPtr(after)
	pm := &poolMap{console: c.info.Version + " at " + c.info.Addr, linked: map[int]pooledClient{}, unsure: map[int]bool{}}
	for i, row := range servers {
		s := parseServer(row)
		if s.mode, err = c.poolMode(ctx, poolKey{s.database, s.user}); err != nil {
			return nil, err
		}
		pm.servers = append(pm.servers, s)
		if s.link == "" {
			continue
		}
		a, okA := first[s.link]
		b, okB := second[s.link]
		if okA && okB && a.key == b.key {
			pm.linked[i] = b
		} else {
			pm.unsure[i] = true
		}
	}
	return pm, nil
}
