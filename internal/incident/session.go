package incident

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/pgrunbook/pgrunbook/internal/pg/pgsession"
)

// ProbeApp is the application_name of the short-lived connections this
// package opens to watch pg_stat_activity and to terminate sessions.
const ProbeApp = "pgrunbook-incident-probe"

const (
	pollInterval = 10 * time.Millisecond
	// waitCap bounds waits for a visible state when ctx has no deadline.
	waitCap = 30 * time.Second
	// closeTimeout bounds each step of Session.Close.
	closeTimeout = 5 * time.Second
)

// Session is one staged client session: a dedicated connection, possibly
// running a statement in the background.
type Session struct {
	// PID is the backend process id (pg_stat_activity.pid).
	PID int
	// BackendStart is pg_stat_activity.backend_start of the backend.
	BackendStart time.Time
	// App is the session's application_name.
	App string
	// Query is the SQL text of the session's staged statement as it
	// appears in pg_stat_activity.query ("" for Idle).
	Query string

	dsn    string
	conn   *pgsession.Session
	connMu sync.Mutex // serialises use of conn once the background statement is done

	background bool               // a statement runs in a goroutine
	cancel     context.CancelFunc // cancels the background statement's context
	done       chan struct{}
	err        error // valid once done is closed

	closeOnce sync.Once
}

// Done returns a channel closed when the session's background statement
// has finished. For sessions without a background statement (Idle,
// IdleInTransaction) it is already closed.
func (s *Session) Done() <-chan struct{} { return s.done }

// Err returns the background statement's error once Done is closed: nil if
// it completed, a server error with SQLSTATE 57014 (query_canceled)
// after pg_cancel_backend, or one with SQLSTATE 57P01 (admin_shutdown)
// after pg_terminate_backend (see pgsession.SQLState). Before Done is
// closed it returns nil.
func (s *Session) Err() error {
	select {
	case <-s.done:
		return s.err
	default:
		return nil
	}
}

// Alive reports whether the session's connection still answers SELECT 1.
// While a background statement is still running the session is considered
// alive without touching the connection. A terminated session's
// connection is closed by the check.
func (s *Session) Alive(ctx context.Context) bool {
	select {
	case <-s.done:
	default:
		return true
	}
	s.connMu.Lock()
	defer s.connMu.Unlock()
	if s.conn.Closed() {
		return false
	}
	var one int
	return s.conn.QueryRow(ctx, "SELECT 1").Scan(&one) == nil && one == 1
}

// Close ends the session. If its background statement is still running,
// the backend is terminated first (a client-side disconnect alone would
// leave e.g. pg_sleep running on the server). Errors are ignored; Close is
// idempotent.
func (s *Session) Close() {
	s.closeOnce.Do(func() {
		select {
		case <-s.done:
		default:
			ctx, cancel := context.WithTimeout(context.Background(), closeTimeout)
			_ = terminate(ctx, s.dsn, s.PID)
			select {
			case <-s.done:
			case <-ctx.Done():
			}
			cancel()
		}
		// Unblocks the background statement on the client side if the
		// server did not end it (its connection is then closed).
		s.cancel()
		<-s.done
		s.connMu.Lock()
		defer s.connMu.Unlock()
		ctx, cancel := context.WithTimeout(context.Background(), closeTimeout)
		defer cancel()
		_ = s.conn.Close(ctx)
	})
}

// connect opens a session connection with application_name app and reads
// its backend identity.
func connect(ctx context.Context, dsn, app string) (*Session, error) {
	return connectWith(ctx, dsn, pgsession.Options{App: app})
}

// connectWith is connect with further connection options (another role,
// another local address).
func connectWith(ctx context.Context, dsn string, opts pgsession.Options) (*Session, error) {
	conn, err := pgsession.Open(ctx, dsn, opts)
	if err != nil {
		return nil, fmt.Errorf("incident: connect %s: %w", opts.App, err)
	}
	s := &Session{App: opts.App, dsn: dsn, conn: conn, cancel: func() {}}
	err = conn.QueryRow(ctx,
		"SELECT pid, backend_start FROM pg_stat_activity WHERE pid = pg_backend_pid()",
	).Scan(&s.PID, &s.BackendStart)
	if err != nil {
		_ = conn.Close(context.Background())
		return nil, fmt.Errorf("incident: read backend identity: %w", err)
	}
	return s, nil
}

// markDone records a session without a background statement.
func (s *Session) markDone() {
	s.done = make(chan struct{})
	close(s.done)
}

// runBackground starts sql on the session's connection in a goroutine. The
// statement's context is detached from ctx (keeping its values) so that
// the setup deadline does not end the staged statement.
func (s *Session) runBackground(ctx context.Context, sql string) {
	s.runBackgroundFunc(ctx, sql, func(bctx context.Context) error {
		_, err := s.conn.Exec(bctx, sql)
		return err
	})
}

// runBackgroundFunc runs fn in a goroutine as the session's background
// work, showing query as its statement; Done closes and Err holds fn's
// error when fn returns. fn's context is detached from ctx as in
// runBackground.
func (s *Session) runBackgroundFunc(ctx context.Context, query string, fn func(context.Context) error) {
	bctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	s.cancel = cancel
	s.Query = query
	s.background = true
	s.done = make(chan struct{})
	go func() {
		defer close(s.done)
		s.err = fn(bctx)
	}()
}

// activity is the part of a pg_stat_activity row the waits look at.
type activity struct {
	State         string
	QueryStarted  bool
	WaitEventType string
	Query         string
}

// runs reports whether the row shows the session's statement sql.
func (a activity) runs(sql string) bool {
	// pg_stat_activity.query is cut at track_activity_query_size.
	return a.Query != "" && strings.HasPrefix(sql, a.Query)
}

// awaitActivity polls pg_stat_activity from a separate connection until
// cond holds for the session's backend. It fails if the background
// statement finishes first.
func (s *Session) awaitActivity(ctx context.Context, what string, cond func(activity) bool) error {
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, waitCap)
		defer cancel()
	}
	probe, err := probeConn(ctx, s.dsn)
	if err != nil {
		return err
	}
	defer probe.Close(context.Background())

	var done <-chan struct{} // nil (never ready) without a background statement
	if s.background {
		done = s.done
	}
	ticker := time.NewTicker(pollInterval)
	defer ticker.Stop()
	var last activity
	for {
		var a activity
		err := probe.QueryRow(ctx, `
SELECT coalesce(state, ''), query_start IS NOT NULL, coalesce(wait_event_type, ''), coalesce(query, '')
FROM pg_stat_activity WHERE pid = $1`, s.PID).Scan(&a.State, &a.QueryStarted, &a.WaitEventType, &a.Query)
		switch {
		case errors.Is(err, pgsession.ErrNoRows):
			return fmt.Errorf("incident: %s session (pid %d) disappeared before it was %s", s.App, s.PID, what)
		case err != nil && ctx.Err() == nil:
			return fmt.Errorf("incident: watch pg_stat_activity: %w", err)
		case err == nil:
			last = a
			if cond(a) {
				return nil
			}
		}
		select {
		case <-done:
			if s.err != nil {
				return fmt.Errorf("incident: %s statement failed before it was %s: %w", s.App, what, s.err)
			}
			return fmt.Errorf("incident: %s statement finished before it was seen %s", s.App, what)
		case <-ctx.Done():
			return fmt.Errorf("incident: %s session (pid %d) not %s (last seen: state %q, wait_event_type %q): %w",
				s.App, s.PID, what, last.State, last.WaitEventType, ctx.Err())
		case <-ticker.C:
		}
	}
}

// probeConn opens a short-lived connection for watching or signalling.
func probeConn(ctx context.Context, dsn string) (*pgsession.Session, error) {
	conn, err := pgsession.Open(ctx, dsn, pgsession.Options{App: ProbeApp})
	if err != nil {
		return nil, fmt.Errorf("incident: connect probe: %w", err)
	}
	return conn, nil
}

// terminate calls pg_terminate_backend(pid) from a probe connection.
func terminate(ctx context.Context, dsn string, pid int) error {
	probe, err := probeConn(ctx, dsn)
	if err != nil {
		return err
	}
	defer probe.Close(context.Background())
	_, err = probe.Exec(ctx, "SELECT pg_terminate_backend($1)", pid)
	return err
}

// stage finishes a constructor: on error the session is closed.
func stage(s *Session, err error) (*Session, error) {
	if err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

// LongQuery opens a session that runs SELECT pg_sleep(d) in the
// background and returns once the statement is visibly running (state
// active, query_start set) in pg_stat_activity.
func LongQuery(ctx context.Context, dsn, app string, d time.Duration) (*Session, error) {
	if d <= 0 {
		return nil, fmt.Errorf("incident: LongQuery needs a positive duration, got %s", d)
	}
	s, err := connect(ctx, dsn, app)
	if err != nil {
		return nil, err
	}
	s.runBackground(ctx, "SELECT pg_sleep("+seconds(d)+")")
	return stage(s, s.awaitActivity(ctx, "running", func(a activity) bool {
		return a.State == "active" && a.QueryStarted && a.runs(s.Query)
	}))
}

// stubbornSQL sleeps in short slices until the deadline, swallowing
// query_canceled (SQLSTATE 57014) so that only termination ends it.
const stubbornSQL = `DO $stubborn$
DECLARE
  deadline timestamptz := statement_timestamp() + make_interval(secs => %s);
BEGIN
  WHILE clock_timestamp() < deadline LOOP
    BEGIN
      PERFORM pg_sleep(least(0.1, extract(epoch FROM deadline - clock_timestamp())));
    EXCEPTION WHEN query_canceled THEN
      NULL; -- ignore pg_cancel_backend and statement_timeout
    END;
  END LOOP;
END
$stubborn$`

// StubbornQuery opens a session running a PL/pgSQL DO block that sleeps in
// short pg_sleep slices until d has elapsed since the statement started,
// catching and ignoring query cancellation: pg_cancel_backend has no
// effect, only pg_terminate_backend ends it early. It returns once the
// statement is visibly sleeping in its loop.
func StubbornQuery(ctx context.Context, dsn, app string, d time.Duration) (*Session, error) {
	if d <= 0 {
		return nil, fmt.Errorf("incident: StubbornQuery needs a positive duration, got %s", d)
	}
	s, err := connect(ctx, dsn, app)
	if err != nil {
		return nil, err
	}
	s.runBackground(ctx, fmt.Sprintf(stubbornSQL, seconds(d)))
	// Active is not enough: a cancel that arrives while the DO block is
	// still being compiled, before its loop, is not caught. Sleeping
	// (wait event type Timeout) means it is inside the guarded pg_sleep.
	return stage(s, s.awaitActivity(ctx, "sleeping in its guarded loop", func(a activity) bool {
		return a.State == "active" && a.QueryStarted && a.runs(s.Query) && a.WaitEventType == "Timeout"
	}))
}

// Idle opens a session that just sits idle.
func Idle(ctx context.Context, dsn, app string) (*Session, error) {
	s, err := connect(ctx, dsn, app)
	if err != nil {
		return nil, err
	}
	s.markDone()
	return s, nil
}

// IdleInTransaction opens a session that runs BEGIN and
// UPDATE table SET n = n + 1 WHERE id = id, holding that row's lock, and
// returns once pg_stat_activity shows it idle in transaction. table may be
// schema-qualified ("schema.table"); each part is quoted as an identifier.
// The row must exist (see CreateLockTable).
func IdleInTransaction(ctx context.Context, dsn, app, table string, id int) (*Session, error) {
	s, err := connect(ctx, dsn, app)
	if err != nil {
		return nil, err
	}
	s.markDone()
	s.Query = updateSQL(table, id)
	if _, err := s.conn.Exec(ctx, "BEGIN"); err != nil {
		return stage(s, fmt.Errorf("incident: begin: %w", err))
	}
	updated, err := s.conn.Exec(ctx, s.Query)
	if err != nil {
		return stage(s, fmt.Errorf("incident: %s: %w", s.Query, err))
	}
	if updated != 1 {
		return stage(s, fmt.Errorf("incident: %s updated %d rows, want 1 (create the row first, e.g. with CreateLockTable)", s.Query, updated))
	}
	return stage(s, s.awaitActivity(ctx, "idle in transaction", func(a activity) bool {
		return a.State == "idle in transaction"
	}))
}

// Writer opens a session that runs UPDATE table SET n = n + 1 WHERE id = id
// in autocommit mode in the background and returns once pg_stat_activity
// shows it waiting on a lock (wait_event_type 'Lock'). Done and Err tell
// whether it eventually committed. It is an error if nothing blocks the
// update.
func Writer(ctx context.Context, dsn, app, table string, id int) (*Session, error) {
	s, err := connect(ctx, dsn, app)
	if err != nil {
		return nil, err
	}
	s.runBackground(ctx, updateSQL(table, id))
	return stage(s, s.awaitActivity(ctx, "waiting on a lock", func(a activity) bool {
		return a.State == "active" && a.WaitEventType == "Lock" && a.runs(s.Query)
	}))
}

// CreateLockTable creates table (id int PRIMARY KEY, n int NOT NULL
// DEFAULT 0) if it does not exist and makes sure it holds the rows with ids
// 1 through rows.
func CreateLockTable(ctx context.Context, dsn, table string, rows int) error {
	conn, err := probeConn(ctx, dsn)
	if err != nil {
		return err
	}
	defer conn.Close(context.Background())
	ident := tableIdent(table)
	if _, err := conn.Exec(ctx, "CREATE TABLE IF NOT EXISTS "+ident+" (id int PRIMARY KEY, n int NOT NULL DEFAULT 0)"); err != nil {
		return fmt.Errorf("incident: create table %s: %w", table, err)
	}
	if _, err := conn.Exec(ctx, "INSERT INTO "+ident+" (id) SELECT g FROM generate_series(1, $1::int) AS g ON CONFLICT (id) DO NOTHING", rows); err != nil {
		return fmt.Errorf("incident: fill table %s: %w", table, err)
	}
	return nil
}

// updateSQL is the row-locking statement used by IdleInTransaction and
// Writer. The id is a literal so pg_stat_activity shows the full statement.
func updateSQL(table string, id int) string {
	return "UPDATE " + tableIdent(table) + " SET n = n + 1 WHERE id = " + strconv.Itoa(id)
}

// tableIdent quotes a possibly schema-qualified table name.
func tableIdent(table string) string {
	return pgsession.QuoteIdentifier(table)
}

// seconds formats d as a decimal number of seconds for SQL.
func seconds(d time.Duration) string {
	return strconv.FormatFloat(d.Seconds(), 'f', -1, 64)
}

// BackendPIDs returns the pids of the client backends connected to dsn's
// database whose application_name is app, in ascending order, excluding
// the connection asking.
func BackendPIDs(ctx context.Context, dsn, app string) ([]int, error) {
	conn, err := probeConn(ctx, dsn)
	if err != nil {
		return nil, err
	}
	defer conn.Close(context.Background())
	return backendPIDs(ctx, conn, app)
}

func backendPIDs(ctx context.Context, conn *pgsession.Session, app string) ([]int, error) {
	pids := []int{}
	err := conn.Query(ctx, func(r pgsession.Row) error {
		var pid int
		if err := r.Scan(&pid); err != nil {
			return err
		}
		pids = append(pids, pid)
		return nil
	}, `
SELECT pid FROM pg_stat_activity
WHERE application_name = $1 AND backend_type = 'client backend' AND pid <> pg_backend_pid()
  AND datname = current_database()
ORDER BY pid`, app)
	if err != nil {
		return nil, fmt.Errorf("incident: list %s backends: %w", app, err)
	}
	return pids, nil
}

// WaitForBackends polls pg_stat_activity until at least n client backends
// with application_name app exist and returns their pids. Without a ctx
// deadline it gives up after 30 seconds.
func WaitForBackends(ctx context.Context, dsn, app string, n int) ([]int, error) {
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, waitCap)
		defer cancel()
	}
	conn, err := probeConn(ctx, dsn)
	if err != nil {
		return nil, err
	}
	defer conn.Close(context.Background())
	ticker := time.NewTicker(pollInterval)
	defer ticker.Stop()
	for {
		pids, err := backendPIDs(ctx, conn, app)
		if err == nil && len(pids) >= n {
			return pids, nil
		}
		if err != nil && ctx.Err() == nil {
			return nil, err
		}
		select {
		case <-ctx.Done():
			return pids, fmt.Errorf("incident: %d of %d %s backends visible: %w", len(pids), n, app, ctx.Err())
		case <-ticker.C:
		}
	}
}
