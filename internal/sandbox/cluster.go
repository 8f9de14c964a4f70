package sandbox

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"
)

const (
	// Host is the address every sandbox cluster listens on.
	Host = "127.0.0.1"
	// SuperUser is the superuser role created by initdb in every sandbox
	// cluster. Authentication is "trust", so no password is needed.
	SuperUser = "postgres"
	// OSUser is the operating system user the server runs as when the
	// current process is root.
	OSUser = "postgres"
)

const (
	readyCap        = 60 * time.Second      // upper bound for waiting on startup
	readyPoll       = 20 * time.Millisecond // postmaster.pid poll interval
	shutdownGrace   = 10 * time.Second      // fast shutdown budget before SIGKILL
	killGrace       = 10 * time.Second      // wait after SIGKILL
	maxPortAttempts = 3                     // startup attempts when the port is picked automatically
	logTailBytes    = 8 << 10               // how much of the server log an error may quote
	maxSocketDirLen = 80                    // keeps DIR/.s.PGSQL.NNNNN under the sun_path limit (104 on macOS)
	logFileName     = "server.log"
	dataDirName     = "data"
	socketDirName   = "socket"
)

// defaultSettings are passed to every server as -c name=value; entries in
// Options.Settings override them.
var defaultSettings = map[string]string{
	"listen_addresses":   Host,
	"fsync":              "off",
	"synchronous_commit": "off",
	"full_page_writes":   "off",
	"max_connections":    "300",
	"shared_buffers":     "32MB",
	// Prepared transactions and logical replication slots can be staged
	// (they pin the xmin horizon; see the horizon step).
	"max_prepared_transactions": "10",
	"wal_level":                 "logical",
}

// Options configures Start.
type Options struct {
	// BinDir is the directory holding initdb and postgres; "" means
	// FindBinDir("").
	BinDir string
	// Port is the TCP port to listen on; 0 picks a free port on 127.0.0.1
	// (and retries with another one if the server reports the address in
	// use).
	Port int
	// Settings are extra server settings passed as -c name=value, for
	// example {"max_connections": "50"}. They override the sandbox
	// defaults. Use Port rather than a "port" setting.
	Settings map[string]string
	// Log receives the server log (the postmaster's stdout and stderr).
	// The log is always also written to server.log inside the cluster
	// directory so that startup errors can quote it; nil means only that
	// file.
	Log io.Writer
}

// Cluster is a running throwaway PostgreSQL cluster started by Start.
// Call Stop to shut it down and delete its files.
type Cluster struct {
	// Dir is the temporary directory holding everything the cluster owns;
	// Stop removes it.
	Dir string
	// DataDir is the data directory created by initdb (Dir/data).
	DataDir string
	// BinDir is the directory of the PostgreSQL binaries in use.
	BinDir string
	// Host is the TCP address the server listens on (always 127.0.0.1).
	Host string
	// Port is the TCP port the server listens on.
	Port int
	// SocketDir is the directory holding the server's Unix-domain socket.
	SocketDir string
	// User is the superuser role to connect as ("postgres").
	User string
	// LogFile is the path of the server log file inside Dir.
	LogFile string

	runAs          *runAs
	logFile        *os.File
	separateSocket bool // SocketDir lives outside Dir and is removed separately
	srv            *server

	stopOnce sync.Once
	stopErr  error
}

// Start creates and starts a new cluster. ctx bounds initdb and the wait
// for the server to accept connections (at most 60 seconds); it does not
// limit the lifetime of the running server. On error nothing is left
// behind. On Linux the server also receives SIGQUIT (immediate shutdown)
// if the calling process dies without calling Stop; its directory then
// remains in the temporary directory.
func Start(ctx context.Context, opts Options) (_ *Cluster, err error) {
	binDir, err := FindBinDir(opts.BinDir)
	if err != nil {
		return nil, err
	}
	as, err := serverUser()
	if err != nil {
		return nil, err
	}
	base, err := tempBase(as)
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp(base, "pgrunbook-")
	if err != nil {
		return nil, fmt.Errorf("sandbox: create cluster directory: %w", err)
	}
	c := &Cluster{
		Dir:     dir,
		DataDir: filepath.Join(dir, dataDirName),
		BinDir:  binDir,
		Host:    Host,
		User:    SuperUser,
		LogFile: filepath.Join(dir, logFileName),
		runAs:   as,
	}
	defer func() {
		if err != nil {
			_ = c.Stop()
		}
	}()
	if err := c.chown(dir); err != nil {
		return nil, err
	}
	if err := c.makeSocketDir(); err != nil {
		return nil, err
	}
	c.logFile, err = os.OpenFile(c.LogFile, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, fmt.Errorf("sandbox: create server log: %w", err)
	}
	if err := c.chown(c.LogFile); err != nil {
		return nil, err
	}
	if err := c.initdb(ctx); err != nil {
		return nil, err
	}

	var logw io.Writer = c.logFile
	if opts.Log != nil {
		logw = io.MultiWriter(c.logFile, opts.Log)
	}
	settings := make(map[string]string, len(defaultSettings)+len(opts.Settings))
	for k, v := range defaultSettings {
		settings[k] = v
	}
	for k, v := range opts.Settings {
		settings[k] = v
	}

	attempts := 1
	if opts.Port == 0 {
		attempts = maxPortAttempts
	}
	for attempt := 1; ; attempt++ {
		port := opts.Port
		if port == 0 {
			if port, err = pickPort(); err != nil {
				return nil, fmt.Errorf("sandbox: pick a free port: %w", err)
			}
		}
		err = c.launch(ctx, port, settings, logw)
		if err == nil {
			return c, nil
		}
		var se *startupError
		if attempt >= attempts || !errors.As(err, &se) || !se.addrInUse {
			return nil, err
		}
	}
}

// serverUser returns the account to run PostgreSQL as: nil (the current
// user) unless the current process is root.
// PID returns the process id of the postmaster, which is also the id of
// the process group holding every server process; 0 if no server was
// started.
func (c *Cluster) PID() int {
	if c.srv == nil {
		return 0
	}
	return c.srv.cmd.Process.Pid
}

// DSN returns a keyword/value connection string for database dbname
// ("postgres" if empty), for example
// "host=127.0.0.1 port=5433 user=postgres dbname=app sslmode=disable".
func (c *Cluster) DSN(dbname string) string {
	if dbname == "" {
		dbname = "postgres"
	}
	return fmt.Sprintf("host=%s port=%d user=%s dbname=%s sslmode=disable",
		quoteConnValue(c.Host), c.Port, quoteConnValue(c.User), quoteConnValue(dbname))
}

// Env returns libpq environment variables (PGHOST, PGPORT, PGUSER,
// PGDATABASE=postgres and PGSSLMODE=disable) that point client programs
// such as psql and pgbench at the cluster.
func (c *Cluster) Env() []string {
	return []string{
		"PGHOST=" + c.Host,
		"PGPORT=" + strconv.Itoa(c.Port),
		"PGUSER=" + c.User,
		"PGDATABASE=postgres",
		"PGSSLMODE=disable",
	}
}

// Command returns a command running PostgreSQL program name (for example
// "pgbench" or "psql", found by [Cluster.ProgramPath]: from BinDir, or from
// another installation when BinDir lacks it; a name containing a path
// separator is used as is) with Env() added to an environment stripped of
// other PG* variables. When the current process is root, the command runs
// as the postgres OS user. ctx kills the process as in
// exec.CommandContext.
func (c *Cluster) Command(ctx context.Context, name string, args ...string) *exec.Cmd {
	path := name
	if !strings.ContainsRune(name, filepath.Separator) {
		path = c.ProgramPath(name)
	}
	cmd := exec.CommandContext(ctx, path, args...)
	cmd.Env = append(c.childEnv(), c.Env()...)
	cmd.SysProcAttr = newClientProcAttr(c.runAs)
	return cmd
}

// Stop shuts the server down (fast shutdown; SIGKILL to its process group
// if it has not exited within about 10 seconds) and removes Dir. It is
// safe to call more than once and from several goroutines; later calls
// return the first call's result.
func (c *Cluster) Stop() error {
	c.stopOnce.Do(func() { c.stopErr = c.stop() })
	return c.stopErr
}

func (c *Cluster) stop() error {
	var errs []error
	if c.srv != nil {
		if err := c.srv.shutdown(); err != nil {
			errs = append(errs, err)
		}
	}
	if c.logFile != nil {
		_ = c.logFile.Close()
	}
	if err := os.RemoveAll(c.Dir); err != nil {
		errs = append(errs, fmt.Errorf("sandbox: remove cluster directory: %w", err))
	}
	if c.separateSocket {
		if err := os.RemoveAll(c.SocketDir); err != nil {
			errs = append(errs, fmt.Errorf("sandbox: remove socket directory: %w", err))
		}
	}
	return errors.Join(errs...)
}

// quoteConnValue quotes a value for a keyword/value connection string when
// needed.
func quoteConnValue(v string) string {
	if v != "" && !strings.ContainsAny(v, " \t\n\r'\\=") {
		return v
	}
	r := strings.NewReplacer(`\`, `\\`, `'`, `\'`)
	return "'" + r.Replace(v) + "'"
}
