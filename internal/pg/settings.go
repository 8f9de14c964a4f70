package pg

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
)

// setting is one of pgrunbook's own session settings.
type setting struct{ name, value string }

// idleInTransactionTimeout ends pgrunbook's own session should it ever
// sit in an open transaction.
const idleInTransactionTimeout = "60000"

// sessionSettings are the settings pgrunbook's session runs with, in the
// order they are applied and reported.
func sessionSettings(statementTimeout, lockTimeout time.Duration) []setting {
	return []setting{
		{"application_name", ApplicationName},
		{"statement_timeout", millisecondsUp(statementTimeout)},
		{"lock_timeout", millisecondsUp(lockTimeout)},
		{"idle_in_transaction_session_timeout", idleInTransactionTimeout},
		{"default_transaction_read_only", "on"},
	}
}

// setupSQL applies the settings (set_config(name, value, false) lasts for
// the session) and reads the server, the role, pg_backend_pid() and where
// the server sees pgrunbook connect from, in the same statement, so setting up costs no extra round trip. Placeholders
// $1..$2n are the names and values; nothing else is ever interpolated.
func setupSQL(n int) string {
	var b strings.Builder
	b.WriteString("SELECT ")
	for i := range n {
		fmt.Fprintf(&b, "set_config($%d, $%d, false), ", 2*i+1, 2*i+2)
	}
	// default_transaction_read_only applies from the next transaction on;
	// this one (and a snapshot sent in its pipeline, prefetch.go) is made
	// read-only here.
	b.WriteString(`set_config('transaction_read_only', 'on', true), `)
	b.WriteString(`pg_backend_pid(), coalesce(host(inet_client_addr()), ''), coalesce(inet_client_port(), -1),
       current_user, current_database(), current_setting('server_version'),
       current_setting('server_version_num')::int,
       r.rolsuper,
       pg_has_role('pg_signal_backend', 'USAGE'),
       pg_has_role('pg_read_all_stats', 'USAGE'),
       current_setting('cluster_name'), current_setting('max_connections')::int,
       current_setting('superuser_reserved_connections')::int,
       coalesce(current_setting('reserved_connections', true), '0')::int`)
	b.WriteString(providerSQL(2*n + 1)) // provider.go
	b.WriteString(`
FROM pg_roles r WHERE r.rolname = current_user`)
	return b.String()
}

// readBackSQL reads, in a transaction of its own, the backend and every
// setting again, and whether that transaction is read-only: what a later
// statement of pgrunbook's really runs with.
func readBackSQL(n int) string {
	var b strings.Builder
	b.WriteString("SELECT pg_backend_pid(), current_setting('transaction_read_only')")
	for i := range n {
		fmt.Fprintf(&b, ", current_setting($%d)", i+1)
	}
	return b.String()
}

// setUp applies pgrunbook's session settings on a new connection, reads
// the server's version and the role's privileges, reads the settings back
// in a second transaction and looks for a pooler in between (pooler.go).
// Both statements are unnamed, which every pooler passes on (no prepared
// statement is left behind on a server session a pooler may give to
// someone else). Two round trips in all, or one when the connection is
// plainly direct (directConnection). On the first connect, when asked
// (Options.FirstSnapshot) and no --pooler console is to be read with it,
// the first snapshot travels with the set-up statement (prefetch.go); it
// is kept for a direct connection only, and so is the warm-up that may
// travel behind it (Options.WarmUp, ahead.go), returned unread.
func (c *Client) setUp(ctx context.Context, conn *pgx.Conn) (info ServerInfo, pre *prefetched, tail *ahead, err error) {
	var warm *ahead
	defer func() {
		if err != nil {
			warm.finish()
		}
	}()
	info = ServerInfo{Host: c.cfg.Host, Port: int(c.cfg.Port)}
	args := make([]any, 0, 2*len(c.want))
	names := make([]any, len(c.want))
	for i, s := range c.want {
		args = append(args, s.name, s.value)
		names[i] = s.name
	}
	applied := make([]string, len(c.want))
	dest := make([]any, 0, len(c.want)+8)
	for i := range applied {
		dest = append(dest, &applied[i])
	}
	var own ownBackend
	var thisReadOnly string
	dest = append(dest, &thisReadOnly, &own.pid, &own.clientAddr, &own.clientPort, &info.User, &info.Database, &info.Version, &info.VersionNum,
		&info.Privileges.Superuser, &info.Privileges.SignalBackend, &info.Privileges.ReadAllStats,
		&info.Slots.ClusterName, &info.Slots.MaxConnections, &info.Slots.SuperuserReservedConnections,
		&info.Slots.ReservedConnections)
	var provider providerFacts
	dest = append(dest, provider.dest()...)
	args = append(args, providerArgs()...)
	// The snapshot and the warm-up depend on the version the server named
	// at startup (prefetch.go); none is sent when it named none readable.
	v := versionFromStartup(conn.PgConn().ParameterStatus("server_version"))
	var snapSQL snapshotSQL
	if c.prefetchNext && c.console == nil && v > 0 {
		snapSQL = buildSnapshotSQL(v)
	}
	c.prefetchNext = false
	warmUp := 0
	if c.warmUp {
		warmUp = v
	}
	pre, warm, err = setUpStatement(ctx, conn, snapSQL, setupSQL(len(c.want)), args, dest, &info.Slots.MaxConnections, warmUp, c.link.statementBound())
	if err != nil {
		return info, nil, nil, &ConnectError{Target: c.target, Err: err,
			Reason: "connected, but could not set up pgrunbook's session (settings, the server's version, the role's privileges): " + oneLine(err)}
	}
	provider.apply(&info)

	readBack := make([]string, len(c.want))
	var readOnly string
	var pid2 int
	if directConnection(conn, own) {
		// Nothing in between hands the session to someone else, so a
		// session-level set_config in an autocommit statement holds for
		// every later transaction: the second round trip is saved (it
		// matters on a far link).
		copy(readBack, applied)
		readOnly, pid2 = applied[slices.IndexFunc(c.want, func(s setting) bool { return s.name == "default_transaction_read_only" })], own.pid
	} else {
		// The connection takes the next statement once the warm-up's
		// answer is read; a session not plainly direct keeps none.
		warm.finish()
		warm = nil
		dest = append(dest[:0], &pid2, &readOnly)
		for i := range readBack {
			dest = append(dest, &readBack[i])
		}
		err = conn.QueryRow(ctx, readBackSQL(len(c.want)), append([]any{pgx.QueryExecModeSimpleProtocol}, names...)...).Scan(dest...)
		if err != nil {
			return info, nil, nil, &ConnectError{Target: c.target, Err: err,
				Reason: "connected, but could not read pgrunbook's session settings back: " + oneLine(err)}
		}
	}
	info.PID = own.pid

	pooler, err := c.detectPooler(ctx, conn, own, pid2)
	if err != nil {
		return info, nil, nil, err
	}
	info.Pooler = pooler
	if pooler != nil {
		// Through a pooler the first snapshot is read once the session
		// is known to be pgrunbook's own.
		pre = nil
	}

	info.Settings = make(map[string]string, len(c.want))
	for i, s := range c.want {
		info.Settings[s.name] = readBack[i]
	}
	if wrong := settingsThatDidNotHold(c.want, applied, readBack, readOnly); len(wrong) > 0 {
		return info, nil, nil, &ConnectError{Target: c.target,
			Reason: "connected, but pgrunbook's session settings did not hold (" + strings.Join(wrong, "; ") +
				"): it does not run without its read-only transactions and timeouts; is something between it and the server resetting sessions?"}
	}
	// A warm-up is pending only behind a snapshot kept: it is sent with
	// the snapshot, dropped with a snapshot that failed, and read above on
	// a connection that is not plainly direct.
	return info, pre, warm, nil
}

// settingsThatDidNotHold compares each setting as set_config reported it
// with what a later transaction read back, and checks that a new
// transaction is read-only; it lists every difference in words.
func settingsThatDidNotHold(want []setting, applied, readBack []string, readOnly string) []string {
	var wrong []string
	for i, s := range want {
		if readBack[i] != applied[i] || applied[i] == "" {
			wrong = append(wrong, fmt.Sprintf("%s reads %q after it was set to %q", s.name, readBack[i], s.value))
		}
	}
	if readOnly != "on" {
		wrong = append(wrong, fmt.Sprintf("a new transaction is not read-only (transaction_read_only %q)", readOnly))
	}
	return wrong
}

// directConnection reports whether the backend pid the protocol handed
// out (BackendKeyData) is the server's pg_backend_pid(): then nothing in
// between pools sessions. Every pooler pgrunbook knows of that shares
// server sessions between clients (PgBouncer, Odyssey, PgCat, Supavisor)
// answers the startup with a key of its own; a plain TCP proxy passes the
// server's key through and pools nothing. A pooler that multiplexed
// transactions while passing the server's key on would escape this check;
// none is known to.
func directConnection(conn *pgx.Conn, own ownBackend) bool {
	return int(conn.PgConn().PID()) == own.pid
}
