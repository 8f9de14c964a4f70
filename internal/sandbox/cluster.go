package sandbox

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"runtime"
	"sort"
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

// runAs identifies the unprivileged OS user child processes switch to when
// the current process is root.
type runAs struct {
	uid, gid uint32
	home     string
}

// server is one postmaster process.
type server struct {
	cmd     *exec.Cmd
	exited  chan struct{} // closed after cmd.Wait returned
	waitErr error         // valid once exited is closed
}

// pickPort returns a TCP port that was free on 127.0.0.1 a moment ago.
// It is a variable so tests can simulate a port race.
var pickPort = func() (int, error) {
	l, err := net.Listen("tcp", net.JoinHostPort(Host, "0"))
	if err != nil {
		return 0, err
	}
	port := l.Addr().(*net.TCPAddr).Port
	if err := l.Close(); err != nil {
		return 0, err
	}
	return port, nil
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
func serverUser() (*runAs, error) {
	if os.Geteuid() != 0 {
		return nil, nil
	}
	u, err := user.Lookup(OSUser)
	if err != nil {
		return nil, fmt.Errorf("sandbox: running as root, but PostgreSQL refuses to run as root and the %q OS user cannot be used to run it instead: %w", OSUser, err)
	}
	uid, err := strconv.ParseUint(u.Uid, 10, 32)
	if err != nil {
		return nil, fmt.Errorf("sandbox: uid of OS user %q: %w", OSUser, err)
	}
	gid, err := strconv.ParseUint(u.Gid, 10, 32)
	if err != nil {
		return nil, fmt.Errorf("sandbox: gid of OS user %q: %w", OSUser, err)
	}
	return &runAs{uid: uint32(uid), gid: uint32(gid), home: u.HomeDir}, nil
}

// tempBase picks the directory to create the cluster directory in. When the
// server runs as another user, that user must be able to reach it, so an
// unreachable TMPDIR falls back to /tmp.
func tempBase(as *runAs) (string, error) {
	candidates := []string{os.TempDir()}
	if as == nil {
		return candidates[0], nil
	}
	candidates = append(candidates, "/tmp", "/var/tmp")
	for _, base := range candidates {
		if traversable(filepath.Join(base, "x"), as.uid, as.gid) {
			return base, nil
		}
	}
	return "", fmt.Errorf("sandbox: none of %s is reachable by the %q OS user; set TMPDIR to a directory it can search", strings.Join(candidates, ", "), OSUser)
}

// chown hands path to the server's OS user when running as root.
func (c *Cluster) chown(path string) error {
	if c.runAs == nil {
		return nil
	}
	if err := os.Chown(path, int(c.runAs.uid), int(c.runAs.gid)); err != nil {
		return fmt.Errorf("sandbox: chown %s to %s: %w", path, OSUser, err)
	}
	return nil
}

// makeSocketDir creates the directory for the server's Unix-domain socket,
// inside Dir unless that path would be too long for a socket address.
func (c *Cluster) makeSocketDir() error {
	c.SocketDir = filepath.Join(c.Dir, socketDirName)
	if len(c.SocketDir) <= maxSocketDirLen {
		if err := os.Mkdir(c.SocketDir, 0o700); err != nil {
			return fmt.Errorf("sandbox: create socket directory: %w", err)
		}
	} else {
		d, err := os.MkdirTemp("/tmp", "pgrunbook-sock-")
		if err != nil {
			return fmt.Errorf("sandbox: create socket directory: %w", err)
		}
		c.SocketDir, c.separateSocket = d, true
	}
	return c.chown(c.SocketDir)
}

// childEnv is the environment for initdb, postgres and client programs: the
// current environment without libpq/PostgreSQL variables (PGDATA, PGPORT,
// PGPASSWORD, ... would change what the children do) and, when switching
// users, with HOME pointing at that user's home directory.
func (c *Cluster) childEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if strings.HasPrefix(kv, "PG") {
			continue
		}
		if c.runAs != nil && strings.HasPrefix(kv, "HOME=") {
			continue
		}
		env = append(env, kv)
	}
	if c.runAs != nil && c.runAs.home != "" {
		env = append(env, "HOME="+c.runAs.home)
	}
	return env
}

// initdb creates the data directory.
func (c *Cluster) initdb(ctx context.Context) error {
	cmd := exec.CommandContext(ctx, filepath.Join(c.BinDir, "initdb"),
		"-D", c.DataDir,
		"-U", SuperUser,
		"--auth=trust",
		"-E", "UTF8",
		// A fixed locale keeps initdb independent of the caller's LANG
		// and keeps server messages in English.
		"--locale=C",
		"--no-sync",
		// No --no-instructions (PostgreSQL 14+): the output is only
		// shown when initdb fails, and 13 must work too.
	)
	cmd.Dir = c.Dir
	cmd.Env = c.childEnv()
	cmd.SysProcAttr = newClientProcAttr(c.runAs)
	out, err := cmd.CombinedOutput()
	if err != nil {
		if ctxErr := ctx.Err(); ctxErr != nil {
			err = ctxErr
		}
		return fmt.Errorf("sandbox: initdb failed: %w\n%s", err, indent(string(out)))
	}
	return nil
}

// startupError reports a server that did not become ready.
type startupError struct {
	msg       string
	logTail   string
	addrInUse bool
}

func (e *startupError) Error() string {
	if e.logTail == "" {
		return "sandbox: " + e.msg
	}
	return "sandbox: " + e.msg + "; server log:\n" + indent(e.logTail)
}

// launch starts the postmaster on port and waits until it accepts
// connections.
func (c *Cluster) launch(ctx context.Context, port int, settings map[string]string, logw io.Writer) error {
	logStart, _ := c.logFile.Seek(0, io.SeekEnd)

	args := []string{"-D", c.DataDir, "-p", strconv.Itoa(port), "-k", c.SocketDir}
	names := make([]string, 0, len(settings))
	for k := range settings {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		args = append(args, "-c", k+"="+settings[k])
	}
	cmd := exec.Command(filepath.Join(c.BinDir, "postgres"), args...)
	cmd.Dir = c.Dir
	cmd.Env = c.childEnv()
	cmd.Stdout = logw
	cmd.Stderr = logw
	cmd.SysProcAttr = newServerProcAttr(c.runAs)

	srv, err := startServerProcess(cmd)
	if err != nil {
		return fmt.Errorf("sandbox: start postgres: %w", err)
	}
	c.srv = srv
	c.Port = port

	if err := c.waitReady(ctx, srv); err != nil {
		se := &startupError{msg: err.Error()}
		select {
		case <-srv.exited:
		default:
			// Still running but not ready in time: do not leave it behind.
			_ = srv.shutdown()
		}
		tail := readFrom(c.LogFile, logStart)
		se.logTail = lastLines(tail, 30)
		se.addrInUse = strings.Contains(tail, "Address already in use")
		return se
	}
	return nil
}

// startServerProcess starts cmd from a goroutine locked to its OS thread
// and reaps it from that same goroutine. The thread stays alive for the
// lifetime of the child, which keeps the parent-death signal (Linux
// Pdeathsig is tied to the creating thread) from firing early.
func startServerProcess(cmd *exec.Cmd) (*server, error) {
	srv := &server{cmd: cmd, exited: make(chan struct{})}
	started := make(chan error, 1)
	go func() {
		// Never unlocked: when this goroutine returns, the runtime
		// retires the thread, which is harmless because the child has
		// been reaped by then.
		runtime.LockOSThread()
		if err := cmd.Start(); err != nil {
			started <- err
			return
		}
		started <- nil
		srv.waitErr = cmd.Wait()
		close(srv.exited)
	}()
	if err := <-started; err != nil {
		return nil, err
	}
	return srv, nil
}

// waitReady polls postmaster.pid until its status line says "ready".
func (c *Cluster) waitReady(ctx context.Context, srv *server) error {
	deadline := time.Now().Add(readyCap)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	timer := time.NewTimer(time.Until(deadline))
	defer timer.Stop()
	ticker := time.NewTicker(readyPoll)
	defer ticker.Stop()
	pidFile := filepath.Join(c.DataDir, "postmaster.pid")
	for {
		if postmasterReady(pidFile, srv.cmd.Process.Pid) {
			return nil
		}
		select {
		case <-srv.exited:
			return fmt.Errorf("postgres exited during startup (%v)", srv.waitErr)
		case <-ctx.Done():
			return fmt.Errorf("waiting for postgres to start: %w", ctx.Err())
		case <-timer.C:
			return fmt.Errorf("postgres did not become ready within %s", readyCap)
		case <-ticker.C:
		}
	}
}

// postmasterReady reports whether the postmaster.pid file belongs to pid and
// its eighth line (the postmaster status) reads "ready".
func postmasterReady(pidFile string, pid int) bool {
	b, err := os.ReadFile(pidFile)
	if err != nil {
		return false
	}
	lines := strings.Split(string(b), "\n")
	if len(lines) < 8 {
		return false
	}
	return strings.TrimSpace(lines[0]) == strconv.Itoa(pid) && strings.TrimSpace(lines[7]) == "ready"
}

// shutdown stops the postmaster: SIGINT (fast shutdown), then SIGKILL to
// its whole process group if it has not exited within shutdownGrace.
func (s *server) shutdown() error {
	select {
	case <-s.exited:
		return nil
	default:
	}
	_ = interruptProcess(s.cmd.Process)
	t := time.NewTimer(shutdownGrace)
	defer t.Stop()
	select {
	case <-s.exited:
		return nil
	case <-t.C:
	}
	pgid := s.cmd.Process.Pid
	if err := killGroup(pgid); err != nil {
		return fmt.Errorf("sandbox: kill postgres process group %d: %w", pgid, err)
	}
	t2 := time.NewTimer(killGrace)
	defer t2.Stop()
	select {
	case <-s.exited:
		return nil
	case <-t2.C:
		return fmt.Errorf("sandbox: postgres (pid %d) did not exit after SIGKILL", pgid)
	}
}

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

// readFrom returns the content of path from offset on, at most the last
// logTailBytes of it.
func readFrom(path string, offset int64) string {
	f, err := os.Open(path)
	if err != nil {
		return ""
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return ""
	}
	if fi.Size()-offset > logTailBytes {
		offset = fi.Size() - logTailBytes
	}
	if _, err := f.Seek(offset, io.SeekStart); err != nil {
		return ""
	}
	b, _ := io.ReadAll(f)
	return string(b)
}

// lastLines returns at most the last n lines of s.
func lastLines(s string, n int) string {
	s = strings.TrimRight(s, "\n")
	lines := strings.Split(s, "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// indent prefixes every line of s with two spaces.
func indent(s string) string {
	s = strings.TrimRight(s, "\n")
	if s == "" {
		return "  (no output)"
	}
	var b bytes.Buffer
	for _, line := range strings.Split(s, "\n") {
		b.WriteString("  ")
		b.WriteString(line)
		b.WriteByte('\n')
	}
	return strings.TrimRight(b.String(), "\n")
}
