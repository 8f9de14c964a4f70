package pgtest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// PgBouncer pool modes.
const (
	SessionPooling     = "session"
	TransactionPooling = "transaction"
	StatementPooling   = "statement"
)

// PgBouncerAdminDB is the virtual database of PgBouncer's admin console.
const PgBouncerAdminDB = "pgbouncer"

const (
	bouncerReadyCap  = 20 * time.Second
	bouncerStopGrace = 5 * time.Second
	bouncerAttempts  = 3
)

// PgBouncerOptions configure StartPgBouncer.
type PgBouncerOptions struct {
	// PoolMode is session, transaction or statement; "" means session.
	PoolMode string
	// DefaultPoolSize is default_pool_size; 0 leaves PgBouncer's default.
	DefaultPoolSize int
	// Settings are further [pgbouncer] settings, such as
	// {"application_name_add_host": "1"}; they override the harness's.
	Settings map[string]string
	// Users are roles, besides the test server's own, that may log in
	// through the pooler (clients are trusted, so no password is needed;
	// PgBouncer still wants every user named in its auth_file).
	Users []string
}

// PgBouncer is a running PgBouncer in front of the test server, started
// by StartPgBouncer and stopped when the test ends.
type PgBouncer struct {
	// Host and Port are where clients connect (127.0.0.1 and a free port).
	Host string
	Port int
	// PoolMode is the pool mode it runs with.
	PoolMode string
	// User is the role clients connect as by default, also an admin
	// console user.
	User string
	// Dir holds the configuration and the log; it is removed at Stop.
	Dir string
	// LogFile is PgBouncer's log (stdout and stderr).
	LogFile string

	cmd    *exec.Cmd
	exited chan struct{}
	logf   *os.File
}

// StartPgBouncer starts Debian's pgbouncer on a free port of 127.0.0.1 in
// front of the test server, with clients trusted, the admin console open
// to the server's user, and ignore_startup_parameters set to
// extra_float_digits as a stock installation has it. When the tests run
// as root it runs as the postgres OS user. It is stopped, and its
// directory removed, when the test ends. A missing pgbouncer fails the
// test: it is installed by .ci/run (apt-get install pgbouncer).
func StartPgBouncer(t testing.TB, opts PgBouncerOptions) *PgBouncer {
	t.Helper()
	mustInit()
	b, err := startPgBouncer(opts)
	if err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	t.Cleanup(func() {
		if err := b.Stop(); err != nil {
			t.Errorf("pgtest: stopping pgbouncer: %v", err)
		}
	})
	return b
}

// DSN is a connection string for database dbname through the pooler, as
// the server's user.
func (b *PgBouncer) DSN(dbname string) string { return b.DSNAs(b.User, dbname) }

// DSNAs is a connection string for database dbname through the pooler,
// as role user.
func (b *PgBouncer) DSNAs(user, dbname string) string {
	return fmt.Sprintf("host=%s port=%d user=%s dbname=%s sslmode=disable",
		b.Host, b.Port, quoteConnValue(user), quoteConnValue(dbname))
}

// AdminDSN is a connection string for the admin console (database
// pgbouncer), which speaks only the simple query protocol.
func (b *PgBouncer) AdminDSN() string { return b.DSN(PgBouncerAdminDB) }

// Addr is host:port of the pooler.
func (b *PgBouncer) Addr() string { return net.JoinHostPort(b.Host, strconv.Itoa(b.Port)) }

// Log returns what PgBouncer logged so far.
func (b *PgBouncer) Log() string {
	data, _ := os.ReadFile(b.LogFile)
	return string(data)
}

// Stop ends PgBouncer (SIGTERM, immediate shutdown; SIGKILL after 5s) and
// removes its directory. It is safe to call twice.
func (b *PgBouncer) Stop() error {
	var errs []error
	if b.cmd != nil {
		select {
		case <-b.exited:
		default:
			_ = b.cmd.Process.Signal(syscall.SIGTERM)
			select {
			case <-b.exited:
			case <-time.After(bouncerStopGrace):
				_ = b.cmd.Process.Kill()
				select {
				case <-b.exited:
				case <-time.After(bouncerStopGrace):
					errs = append(errs, fmt.Errorf("pgbouncer (pid %d) did not exit after SIGKILL", b.cmd.Process.Pid))
				}
			}
		}
	}
	if b.logf != nil {
		_ = b.logf.Close()
		b.logf = nil
	}
	if b.Dir != "" {
		if err := os.RemoveAll(b.Dir); err != nil {
			errs = append(errs, err)
		}
		b.Dir = ""
	}
	return errors.Join(errs...)
}

// bouncerServer is the server PgBouncer forwards to, from the test DSN.
type bouncerServer struct {
	host     string
	port     int
	user     string
	password string
}

func startPgBouncer(opts PgBouncerOptions) (*PgBouncer, error) {
	bin, err := pgbouncerBinary()
	if err != nil {
		return nil, err
	}
	cfg, err := pgx.ParseConfig(DSN())
	if err != nil {
		return nil, fmt.Errorf("pgbouncer: parse the test DSN: %w", err)
	}
	// PgBouncer takes a host name, an address or a socket directory.
	srv := bouncerServer{host: cfg.Host, port: int(cfg.Port), user: cfg.User, password: cfg.Password}
	mode := opts.PoolMode
	if mode == "" {
		mode = SessionPooling
	}
	as, err := bouncerUser()
	if err != nil {
		return nil, err
	}
	var last error
	for attempt := 1; attempt <= bouncerAttempts; attempt++ {
		b, addrInUse, err := launchPgBouncer(bin, srv, mode, opts, as)
		if err == nil {
			return b, nil
		}
		last = err
		if !addrInUse {
			break
		}
	}
	return nil, last
}

// pgbouncerBinary finds Debian's pgbouncer (in /usr/sbin, which a
// non-root PATH may lack).
func pgbouncerBinary() (string, error) {
	if p, err := exec.LookPath("pgbouncer"); err == nil {
		return p, nil
	}
	for _, p := range []string{"/usr/sbin/pgbouncer", "/usr/local/sbin/pgbouncer", "/usr/local/bin/pgbouncer"} {
		if fi, err := os.Stat(p); err == nil && fi.Mode().IsRegular() {
			return p, nil
		}
	}
	return "", errors.New("pgbouncer not found on PATH or in /usr/sbin: install it (Debian/Ubuntu: apt-get install pgbouncer; .ci/run does)")
}

// bouncerAccount is the OS user PgBouncer runs as when the tests run as
// root (PgBouncer refuses to run as root).
type bouncerAccount struct{ uid, gid int }

func bouncerUser() (*bouncerAccount, error) {
	if os.Geteuid() != 0 {
		return nil, nil
	}
	u, err := user.Lookup("postgres")
	if err != nil {
		return nil, fmt.Errorf("pgbouncer: running as root, and the postgres OS user to run pgbouncer as is missing: %w", err)
	}
	uid, err1 := strconv.Atoi(u.Uid)
	gid, err2 := strconv.Atoi(u.Gid)
	if err1 != nil || err2 != nil {
		return nil, fmt.Errorf("pgbouncer: uid/gid of the postgres OS user: %q/%q", u.Uid, u.Gid)
	}
	return &bouncerAccount{uid: uid, gid: gid}, nil
}

func launchPgBouncer(bin string, srv bouncerServer, mode string, opts PgBouncerOptions, as *bouncerAccount) (_ *PgBouncer, addrInUse bool, err error) {
	port, err := freeTCPPort()
	if err != nil {
		return nil, false, fmt.Errorf("pgbouncer: pick a free port: %w", err)
	}
	dir, err := os.MkdirTemp(bouncerTempBase(as), "pgrunbook-pgbouncer-")
	if err != nil {
		return nil, false, fmt.Errorf("pgbouncer: %w", err)
	}
	b := &PgBouncer{Host: "127.0.0.1", Port: port, PoolMode: mode, User: srv.user, Dir: dir,
		LogFile: filepath.Join(dir, "pgbouncer.log"), exited: make(chan struct{})}
	defer func() {
		if err != nil {
			_ = b.Stop()
		}
	}()
	ini := filepath.Join(dir, "pgbouncer.ini")
	if err := os.WriteFile(ini, []byte(bouncerConfig(b, srv, opts)), 0o600); err != nil {
		return nil, false, fmt.Errorf("pgbouncer: write config: %w", err)
	}
	users := append([]string{srv.user}, opts.Users...)
	if err := os.WriteFile(filepath.Join(dir, "userlist.txt"), []byte(userlist(users, srv)), 0o600); err != nil {
		return nil, false, fmt.Errorf("pgbouncer: write userlist: %w", err)
	}
	if b.logf, err = os.OpenFile(b.LogFile, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644); err != nil {
		return nil, false, fmt.Errorf("pgbouncer: %w", err)
	}
	if as != nil {
		for _, p := range []string{dir, ini, filepath.Join(dir, "userlist.txt"), b.LogFile} {
			if err := os.Chown(p, as.uid, as.gid); err != nil {
				return nil, false, fmt.Errorf("pgbouncer: chown %s: %w", p, err)
			}
		}
	}
	cmd := exec.Command(bin, ini)
	cmd.Dir = dir
	cmd.Stdout, cmd.Stderr = b.logf, b.logf
	cmd.Env = bouncerEnv()
	cmd.SysProcAttr = bouncerProcAttr(as)
	b.cmd = cmd
	if err := startLocked(cmd, b.exited); err != nil {
		b.cmd = nil
		return nil, false, fmt.Errorf("pgbouncer: start %s: %w", bin, err)
	}
	if err := b.waitReady(); err != nil {
		log := b.Log()
		return nil, strings.Contains(log, "Address already in use"),
			fmt.Errorf("pgbouncer: %v; its log:\n%s", err, lastLogLines(log, 20))
	}
	return b, false, nil
}

// bouncerConfig renders pgbouncer.ini: every database name is forwarded
// to the same name on the test server.
func bouncerConfig(b *PgBouncer, srv bouncerServer, opts PgBouncerOptions) string {
	settings := map[string]string{
		"listen_addr":               b.Host,
		"listen_port":               strconv.Itoa(b.Port),
		"unix_socket_dir":           "",
		"auth_type":                 "trust",
		"auth_file":                 filepath.Join(b.Dir, "userlist.txt"),
		"admin_users":               srv.user,
		"stats_users":               srv.user,
		"pool_mode":                 b.PoolMode,
		"ignore_startup_parameters": "extra_float_digits",
		"max_client_conn":           "200",
		"server_login_retry":        "1",
		"log_connections":           "1",
		"log_disconnections":        "1",
	}
	if opts.DefaultPoolSize > 0 {
		settings["default_pool_size"] = strconv.Itoa(opts.DefaultPoolSize)
	}
	for k, v := range opts.Settings {
		settings[k] = v
	}
	names := make([]string, 0, len(settings))
	for k := range settings {
		names = append(names, k)
	}
	sort.Strings(names)
	var w bytes.Buffer
	fmt.Fprintf(&w, "[databases]\n* = host=%s port=%d\n\n[pgbouncer]\n", srv.host, srv.port)
	for _, k := range names {
		fmt.Fprintf(&w, "%s = %s\n", k, settings[k])
	}
	return w.String()
}

// userlist renders the auth_file: clients are trusted, so entries carry
// no password, except the server's user when the test DSN has one (then
// PgBouncer uses it to log in to the server).
func userlist(users []string, srv bouncerServer) string {
	var w bytes.Buffer
	seen := map[string]bool{}
	for _, u := range users {
		if seen[u] {
			continue
		}
		seen[u] = true
		pw := ""
		if u == srv.user {
			pw = srv.password
		}
		fmt.Fprintf(&w, "%s %s\n", quoteUserlist(u), quoteUserlist(pw))
	}
	return w.String()
}

func quoteUserlist(s string) string {
	return `"` + strings.ReplaceAll(s, `"`, `""`) + `"`
}

// waitReady polls the admin console until PgBouncer answers: SHOW
// VERSION, or a refusal when the console is closed to the user.
func (b *PgBouncer) waitReady() error {
	deadline := time.Now().Add(bouncerReadyCap)
	for {
		select {
		case <-b.exited:
			return errors.New("pgbouncer exited during startup")
		default:
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		err := pingAdmin(ctx, b.AdminDSN())
		cancel()
		var pgErr *pgconn.PgError
		if err == nil || errors.As(err, &pgErr) {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("pgbouncer did not answer within %s: %v", bouncerReadyCap, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func pingAdmin(ctx context.Context, dsn string) error {
	cfg, err := pgx.ParseConfig(dsn)
	if err != nil {
		return err
	}
	cfg.DefaultQueryExecMode = pgx.QueryExecModeSimpleProtocol
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return err
	}
	defer conn.Close(context.Background())
	_, err = conn.Exec(ctx, "SHOW VERSION")
	return err
}

// startLocked starts cmd from a goroutine locked to its OS thread, which
// also reaps it, so that the Linux parent-death signal (tied to the
// creating thread) fires only when the test binary dies.
func startLocked(cmd *exec.Cmd, exited chan struct{}) error {
	started := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		if err := cmd.Start(); err != nil {
			started <- err
			return
		}
		started <- nil
		_ = cmd.Wait()
		close(exited)
	}()
	return <-started
}

func freeTCPPort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// bouncerTempBase is the directory for PgBouncer's files: the usual
// temporary directory, or /tmp when PgBouncer runs as another OS user
// that may not reach TMPDIR.
func bouncerTempBase(as *bouncerAccount) string {
	base := os.TempDir()
	if as == nil {
		return base
	}
	for dir := base; ; dir = filepath.Dir(dir) {
		fi, err := os.Stat(dir)
		if err != nil || fi.Mode().Perm()&0o001 == 0 {
			return "/tmp"
		}
		if filepath.Dir(dir) == dir {
			return base
		}
	}
}

// bouncerEnv is the environment without libpq variables.
func bouncerEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "PG") {
			env = append(env, kv)
		}
	}
	return env
}

func lastLogLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return "  " + strings.Join(lines, "\n  ")
}
