package pgtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"os"
	"os/signal"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/pgrunbook/pgrunbook/internal/sandbox"
)

// EnvDSN names the environment variable that points the tests at an
// existing PostgreSQL server instead of a private sandbox cluster.
const EnvDSN = "PGRUNBOOK_TEST_DSN"

const (
	startTimeout = 90 * time.Second // initdb plus server startup
	opTimeout    = 30 * time.Second // connect, CREATE/DROP DATABASE
	maxIdentLen  = 63               // PostgreSQL's NAMEDATALEN-1
)

// The test server: PGRUNBOOK_TEST_DSN, read by Main, or a sandbox cluster
// started by the first test that asks for one (ensure). A test binary
// whose tests never touch PostgreSQL (a golden update, a run of pure
// tests with -run) starts none.
var (
	mainRan   bool
	baseDSN   string
	cluster   *sandbox.Cluster
	startOnce sync.Once
	startErr  error
	// stopOnSignal stops the cluster when the test binary is interrupted.
	stopOnSignal chan os.Signal
)

// dbCounter makes database names unique within the test binary.
var dbCounter atomic.Int64

// Main runs the tests of a package against PostgreSQL and returns the exit
// code for os.Exit. Unless PGRUNBOOK_TEST_DSN is set, the first test that
// needs the server starts a sandbox cluster, and Main stops it after
// m.Run (also on SIGINT/SIGTERM). If no PostgreSQL can be found or
// started, that test fails with why and how to fix it: the tests fail
// rather than skip, in CI and locally.
func Main(m *testing.M) int {
	mainRan = true
	if dsn := os.Getenv(EnvDSN); dsn != "" {
		baseDSN = dsn
		startOnce.Do(func() {})
		return m.Run()
	}
	code := m.Run()
	if stopOnSignal != nil {
		signal.Stop(stopOnSignal)
		close(stopOnSignal)
	}
	if cluster != nil {
		if err := cluster.Stop(); err != nil {
			fmt.Fprintf(os.Stderr, "pgtest: stopping the test server: %v\n", err)
			if code == 0 {
				code = 1
			}
		}
	}
	if startErr != nil && code == 0 {
		code = 1
	}
	return code
}

// start starts the sandbox cluster; it runs once, from ensure.
func start() {
	ctx, cancel := context.WithTimeout(context.Background(), startTimeout)
	c, err := sandbox.Start(ctx, sandbox.Options{})
	cancel()
	if err != nil {
		msg := fmt.Sprintf("pgtest: these tests need PostgreSQL, but no private test server could be started:\n%v\n\n", err)
		if !errors.Is(err, sandbox.ErrNoPostgres) {
			msg += installHelp
		}
		startErr = errors.New(msg + envHelp)
		return
	}
	cluster, baseDSN = c, c.DSN("postgres")
	stopOnSignal = make(chan os.Signal, 1)
	signal.Notify(stopOnSignal, os.Interrupt, syscall.SIGTERM)
	go func() {
		if _, ok := <-stopOnSignal; ok {
			_ = c.Stop()
			os.Exit(1)
		}
	}()
}

const installHelp = `Install the PostgreSQL server, for example:
  Debian/Ubuntu: apt-get install postgresql
  macOS:         brew install postgresql@16
  RHEL/Fedora:   dnf install postgresql-server
`

const envHelp = `Set ` + sandbox.EnvBinDir + ` to the directory of the server binaries (initdb,
postgres) to use others, e.g. one printed by .ci/pg-major 18.
Alternatively set ` + EnvDSN + ` to the connection string of a server the
tests may use (the role needs to create databases and signal backends), e.g.
  ` + EnvDSN + `='host=localhost port=5432 user=postgres dbname=postgres'
`

// mustInit makes sure the test server is there: it panics with a helpful
// message when Main has not run, and with why when no server could be
// started (the first test to ask fails, and so does every later one).
func mustInit() {
	if !mainRan {
		panic("pgtest: call os.Exit(pgtest.Main(m)) from TestMain before using pgtest")
	}
	startOnce.Do(start)
	if startErr != nil {
		fmt.Fprint(os.Stderr, startErr.Error())
		panic("pgtest: no PostgreSQL for the tests (see above)")
	}
}

// DSN returns the connection string for the "postgres" database of the
// sandbox cluster, or PGRUNBOOK_TEST_DSN unchanged when that is set.
func DSN() string {
	mustInit()
	return baseDSN
}

// DSNFor returns a connection string for database dbname on the test
// server.
func DSNFor(dbname string) string {
	mustInit()
	if cluster != nil {
		return cluster.DSN(dbname)
	}
	return withDatabase(baseDSN, dbname)
}

// Cluster returns the sandbox cluster of the test binary, or nil when the
// tests use PGRUNBOOK_TEST_DSN.
func Cluster() *sandbox.Cluster {
	mustInit()
	return cluster
}

// Connect opens a connection to DSN() that is closed when the test ends.
func Connect(t testing.TB) *pgx.Conn {
	t.Helper()
	return connect(t, DSN())
}

// ConnectTo opens a connection to database dbname that is closed when the
// test ends.
func ConnectTo(t testing.TB, dbname string) *pgx.Conn {
	t.Helper()
	return connect(t, DSNFor(dbname))
}

func connect(t testing.TB, dsn string) *pgx.Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), opTimeout)
	defer cancel()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatalf("pgtest: connect: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), opTimeout)
		defer cancel()
		_ = conn.Close(ctx)
	})
	return conn
}

// CreateDatabase creates a new, uniquely named database whose name starts
// with prefix (reduced to lower-case letters, digits and underscores) and
// returns its name. The database is dropped WITH (FORCE) when the test
// ends, which also terminates sessions still connected to it.
func CreateDatabase(t testing.TB, prefix string) string {
	t.Helper()
	name := databaseName(prefix)
	ctx, cancel := context.WithTimeout(context.Background(), opTimeout)
	defer cancel()
	conn, err := pgx.Connect(ctx, DSN())
	if err != nil {
		t.Fatalf("pgtest: connect: %v", err)
	}
	defer conn.Close(ctx)
	ident := pgx.Identifier{name}.Sanitize()
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+ident); err != nil {
		t.Fatalf("pgtest: create database %s: %v", name, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), opTimeout)
		defer cancel()
		conn, err := pgx.Connect(ctx, DSN())
		if err != nil {
			t.Errorf("pgtest: drop database %s: connect: %v", name, err)
			return
		}
		defer conn.Close(ctx)
		if _, err := conn.Exec(ctx, "DROP DATABASE IF EXISTS "+ident+" WITH (FORCE)"); err != nil {
			t.Errorf("pgtest: drop database %s: %v", name, err)
		}
	})
	return name
}

// databaseName builds "<prefix>_<random>_<counter>" within PostgreSQL's
// identifier length limit.
func databaseName(prefix string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(prefix) {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9', r == '_':
			b.WriteRune(r)
		default:
			b.WriteByte('_')
		}
	}
	p := b.String()
	if p == "" || (p[0] >= '0' && p[0] <= '9') {
		p = "t_" + p
	}
	var rnd [4]byte
	_, _ = rand.Read(rnd[:])
	suffix := fmt.Sprintf("_%s_%d", hex.EncodeToString(rnd[:]), dbCounter.Add(1))
	if len(p)+len(suffix) > maxIdentLen {
		p = p[:maxIdentLen-len(suffix)]
	}
	return p + suffix
}

// withDatabase returns dsn with its database replaced by dbname. It
// handles URLs (postgres:// and postgresql://) and keyword/value strings,
// where a later dbname setting overrides an earlier one.
func withDatabase(dsn, dbname string) string {
	for _, scheme := range []string{"postgres://", "postgresql://"} {
		if len(dsn) < len(scheme) || !strings.EqualFold(dsn[:len(scheme)], scheme) {
			continue
		}
		rest := dsn[len(scheme):]
		authority, tail := rest, ""
		if i := strings.IndexAny(rest, "/?"); i >= 0 {
			authority, tail = rest[:i], rest[i:]
		}
		if strings.HasPrefix(tail, "/") {
			tail = ""
			if q := strings.IndexByte(rest[len(authority):], '?'); q >= 0 {
				tail = rest[len(authority)+q:]
			}
		}
		return dsn[:len(scheme)] + authority + "/" + url.PathEscape(dbname) + tail
	}
	return strings.TrimSpace(dsn) + " dbname=" + quoteConnValue(dbname)
}

// quoteConnValue quotes a keyword/value connection string value when
// needed.
func quoteConnValue(v string) string {
	if v != "" && !strings.ContainsAny(v, " \t\n\r'\\=") {
		return v
	}
	r := strings.NewReplacer(`\`, `\\`, `'`, `\'`)
	return "'" + r.Replace(v) + "'"
}
