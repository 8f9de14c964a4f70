package pg

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/pgrunbook/pgrunbook/internal/pg/pgtest"
)

func TestConnectInfoAndApplicationName(t *testing.T) {
	t.Parallel()
	ctx := pgtest.Context(t)
	db := newDB(t, "pg_connect_info")
	// The DSN's own application_name must not win over pgrunbook's.
	cfg, err := pgx.ParseConfig(db.dsn)
	if err != nil {
		t.Fatal(err)
	}
	dsn := db.dsn
	if !strings.HasPrefix(dsn, "postgres") { // keyword/value form
		dsn += " application_name=someone_else"
	}
	c := connectClient(t, ctx, Options{DSN: dsn})

	var user string
	var versionNum int
	if err := db.ctl.QueryRow(ctx, "SELECT current_user, current_setting('server_version_num')::int").Scan(&user, &versionNum); err != nil {
		t.Fatal(err)
	}
	info := c.Info()
	if info.User != user || info.Database != db.name || info.VersionNum != versionNum || info.Version == "" ||
		info.Host != cfg.Host || info.Port != int(cfg.Port) || info.PID == 0 {
		t.Errorf("Info() = %+v; want user %s, database %s, version %d, host %s, port %d",
			info, user, db.name, versionNum, cfg.Host, cfg.Port)
	}
	var super bool
	if err := db.ctl.QueryRow(ctx, "SELECT rolsuper FROM pg_roles WHERE rolname = current_user").Scan(&super); err != nil {
		t.Fatal(err)
	}
	if super && info.Privileges != (Privileges{Superuser: true, SignalBackend: true, ReadAllStats: true}) {
		t.Errorf("superuser's privileges = %+v, want all true", info.Privileges)
	}

	// Seen from another connection, the session is pgrunbook's.
	var app, datname, usename, backendType string
	err = db.ctl.QueryRow(ctx, "SELECT application_name, datname, usename, backend_type FROM pg_stat_activity WHERE pid = $1", info.PID).
		Scan(&app, &datname, &usename, &backendType)
	if err != nil {
		t.Fatalf("pgrunbook's backend %d not in pg_stat_activity: %v", info.PID, err)
	}
	if app != ApplicationName || datname != db.name || usename != user || backendType != "client backend" {
		t.Errorf("pgrunbook's session seen as app %q db %q user %q type %q; want %q, %s, %s, client backend",
			app, datname, usename, backendType, ApplicationName, db.name, user)
	}
}

// show reads a setting of the Client's own session.
func show(t *testing.T, ctx context.Context, c *Client, name string) string {
	t.Helper()
	var v string
	if err := c.conn.QueryRow(ctx, "SELECT current_setting($1)", name).Scan(&v); err != nil {
		t.Fatalf("current_setting(%s): %v", name, err)
	}
	return v
}

func TestConnectSessionSettings(t *testing.T) {
	t.Parallel()
	ctx := pgtest.Context(t)
	db := newDB(t, "pg_connect_settings")

	t.Run("defaults", func(t *testing.T) {
		c := connectClient(t, ctx, Options{DSN: db.dsn})
		for name, want := range map[string]string{
			"application_name":                    ApplicationName,
			"statement_timeout":                   "10s",
			"lock_timeout":                        "2s",
			"default_transaction_read_only":       "on",
			"idle_in_transaction_session_timeout": "1min",
		} {
			if got := show(t, ctx, c, name); got != want {
				t.Errorf("%s = %q, want %q", name, got, want)
			}
		}
		// Reads are read-only transactions: a write is refused.
		_, err := c.conn.Exec(ctx, "CREATE TEMP TABLE pgrunbook_must_not_exist (x int)")
		if SQLState(err) != "25006" {
			t.Errorf("write on pgrunbook's connection: %v (SQLSTATE %q), want read_only_sql_transaction 25006", err, SQLState(err))
		}
	})

	t.Run("custom", func(t *testing.T) {
		c := connectClient(t, ctx, Options{DSN: db.dsn, StatementTimeout: 1500 * time.Millisecond, LockTimeout: 250 * time.Millisecond})
		if got := show(t, ctx, c, "statement_timeout"); got != "1500ms" {
			t.Errorf("statement_timeout = %q, want 1500ms", got)
		}
		if got := show(t, ctx, c, "lock_timeout"); got != "250ms" {
			t.Errorf("lock_timeout = %q, want 250ms", got)
		}
	})

	t.Run("statement_timeout_enforced", func(t *testing.T) {
		c := connectClient(t, ctx, Options{DSN: db.dsn, StatementTimeout: 50 * time.Millisecond})
		_, err := c.conn.Exec(ctx, "SELECT pg_sleep(20)")
		if SQLState(err) != "57014" {
			t.Errorf("long statement: %v (SQLSTATE %q), want query_canceled 57014 from statement_timeout", err, SQLState(err))
		}
	})

	t.Run("lock_timeout_enforced", func(t *testing.T) {
		const key = 4242
		if _, err := db.ctl.Exec(ctx, "SELECT pg_advisory_lock($1)", key); err != nil {
			t.Fatal(err)
		}
		defer db.ctl.Exec(context.Background(), "SELECT pg_advisory_unlock($1)", key)
		c := connectClient(t, ctx, Options{DSN: db.dsn, LockTimeout: 50 * time.Millisecond})
		_, err := c.conn.Exec(ctx, "SELECT pg_advisory_lock($1)", key)
		if SQLState(err) != "55P03" {
			t.Errorf("lock wait: %v (SQLSTATE %q), want lock_not_available 55P03 from lock_timeout", err, SQLState(err))
		}
	})
}

// freePort returns a TCP port on 127.0.0.1 that nothing listens on.
func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	return port
}

func TestConnectErrors(t *testing.T) {
	t.Parallel()

	t.Run("missing_database", func(t *testing.T) {
		t.Parallel()
		ctx := pgtest.Context(t)
		name := "pgrb_no_such_db_" + randomHex(4)
		_, err := Connect(ctx, Options{DSN: pgtest.DSNFor(name)})
		ce := asConnectError(t, err)
		if !strings.Contains(err.Error(), `"`+name+`"`) || !strings.Contains(err.Error(), "does not exist") {
			t.Errorf("error %q does not say that database %q does not exist", err, name)
		}
		if !strings.Contains(ce.Target, name) {
			t.Errorf("target %q does not name the database", ce.Target)
		}
		if SQLState(err) != "3D000" {
			t.Errorf("SQLState = %q, want 3D000 through the wrapped driver error", SQLState(err))
		}
	})

	t.Run("connection_refused", func(t *testing.T) {
		t.Parallel()
		ctx := pgtest.Context(t)
		port := freePort(t)
		_, err := Connect(ctx, Options{DSN: fmt.Sprintf("host=127.0.0.1 port=%d user=nobody dbname=postgres sslmode=disable connect_timeout=10", port)})
		ce := asConnectError(t, err)
		if !strings.HasPrefix(ce.Reason, "connection refused") {
			t.Errorf("reason %q is not classified as connection refused", ce.Reason)
		}
		if !errors.Is(err, syscall.ECONNREFUSED) {
			t.Errorf("error %q does not wrap ECONNREFUSED", err)
		}
		if want := fmt.Sprintf("127.0.0.1:%d/postgres", port); ce.Target != want {
			t.Errorf("target %q, want %q", ce.Target, want)
		}
	})

	t.Run("missing_role", func(t *testing.T) {
		t.Parallel()
		ctx := pgtest.Context(t)
		role := testRole{name: "pgrb_no_such_role_" + randomHex(4), password: "x"}
		_, err := Connect(ctx, Options{DSN: role.dsn("postgres")})
		asConnectError(t, err)
		if !strings.Contains(err.Error(), role.name) {
			t.Errorf("error %q does not name the role %s", err, role.name)
		}
		// Trust auth says 28000 (role does not exist); password auth says
		// 28P01 so as not to reveal which roles exist.
		if s := SQLState(err); s != "28000" && s != "28P01" {
			t.Errorf("SQLState = %q, want 28000 or 28P01", s)
		}
		if strings.Contains(err.Error(), "SQLSTATE") {
			t.Errorf("error %q is not classified", err)
		}
	})

	t.Run("bad_dsn_hides_password", func(t *testing.T) {
		t.Parallel()
		ctx := pgtest.Context(t)
		for _, dsn := range []string{
			"host=127.0.0.1 port=notaport user=u password=hunter2secret",
			"postgres://u:hunter2secret@127.0.0.1:notaport/db",
		} {
			_, err := Connect(ctx, Options{DSN: dsn})
			asConnectError(t, err)
			if strings.Contains(err.Error(), "hunter2secret") {
				t.Errorf("error for a bad DSN reveals the password: %q", err)
			}
		}
	})

	t.Run("interrupted", func(t *testing.T) {
		t.Parallel()
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		_, err := Connect(ctx, Options{DSN: pgtest.DSN()})
		asConnectError(t, err)
		if !errors.Is(err, context.Canceled) {
			t.Errorf("error %q does not wrap context.Canceled", err)
		}
	})
}

// Regression: a positive timeout below one millisecond was sent as
// statement_timeout=0 / lock_timeout=0, which PostgreSQL reads as "no
// timeout", so `--statement-timeout 500us` silently removed the bound the
// safety rules require. Timeouts are now rounded up to whole milliseconds.
func TestSubMillisecondTimeoutStillBounds(t *testing.T) {
	for d, want := range map[time.Duration]string{
		500 * time.Microsecond:  "1",
		time.Millisecond:        "1",
		1500 * time.Microsecond: "2",
		10 * time.Second:        "10000",
	} {
		if got := millisecondsUp(d); got != want {
			t.Errorf("millisecondsUp(%v) = %s, want %s", d, got, want)
		}
	}
}
