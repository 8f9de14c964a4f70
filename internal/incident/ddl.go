package incident

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/pgrunbook/pgrunbook/internal/pg/pgsession"
)

// Dump opens a session that behaves like pg_dump in the middle of a
// table: it starts a REPEATABLE READ, READ ONLY transaction, takes
// LOCK TABLE table IN ACCESS SHARE MODE (as pg_dump does for every table
// it dumps) and then runs a slow COPY ... TO STDOUT of that table, which
// sleeps for d before it sends its one row. It returns once the COPY is
// visibly running. The session holds the AccessShareLock and its
// snapshot (backend_xmin) until the COPY ends; a cancelled COPY leaves
// the transaction aborted, which releases the lock. The table must hold
// a row (see CreateLockTable).
func Dump(ctx context.Context, dsn, app, table string, d time.Duration) (*Session, error) {
	if d <= 0 {
		return nil, fmt.Errorf("incident: Dump needs a positive duration, got %s", d)
	}
	s, err := connect(ctx, dsn, app)
	if err != nil {
		return nil, err
	}
	ident := tableIdent(table)
	for _, sql := range []string{
		"BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY",
		"LOCK TABLE " + ident + " IN ACCESS SHARE MODE",
	} {
		if _, err := s.conn.Exec(ctx, sql); err != nil {
			s.markDone()
			return stage(s, fmt.Errorf("incident: %s: %w", sql, err))
		}
	}
	copySQL := "COPY (SELECT t.*, pg_sleep(" + seconds(d) + ") FROM " + ident + " AS t LIMIT 1) TO STDOUT"
	s.runBackgroundFunc(ctx, copySQL, func(bctx context.Context) error {
		return s.conn.CopyTo(bctx, discard{}, copySQL)
	})
	return stage(s, s.awaitActivity(ctx, "running its COPY", func(a activity) bool {
		return a.State == "active" && a.QueryStarted && a.runs(s.Query)
	}))
}

// discard is an io.Writer that keeps nothing: the dump's rows.
type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }

// AddColumnSQL is the statement AlterAddColumn runs.
func AddColumnSQL(table, column string) string {
	return "ALTER TABLE " + tableIdent(table) + " ADD COLUMN " + pgsession.QuoteName(column) + " text"
}

// AlterAddColumn opens a session that runs AddColumnSQL(table, column) in
// autocommit mode in the background, as a migration would, and returns
// once pg_stat_activity shows it waiting on a lock: ALTER TABLE needs an
// AccessExclusiveLock, which waits behind any lock on the table (see
// Dump). Done and Err tell how it ended; ColumnExists whether it ran.
func AlterAddColumn(ctx context.Context, dsn, app, table, column string) (*Session, error) {
	s, err := connect(ctx, dsn, app)
	if err != nil {
		return nil, err
	}
	s.runBackground(ctx, AddColumnSQL(table, column))
	return stage(s, s.awaitActivity(ctx, "waiting on a lock", func(a activity) bool {
		return a.State == "active" && a.WaitEventType == "Lock" && a.runs(s.Query)
	}))
}

// Reader opens a session that runs SELECT count(*) FROM table in the
// background and returns once pg_stat_activity shows it waiting on a
// lock: behind a queued AlterAddColumn even a plain read waits, since the
// lock queue is first come, first served. It is an error if nothing
// blocks the read.
func Reader(ctx context.Context, dsn, app, table string) (*Session, error) {
	s, err := connect(ctx, dsn, app)
	if err != nil {
		return nil, err
	}
	s.runBackground(ctx, "SELECT count(*) FROM "+tableIdent(table))
	return stage(s, s.awaitActivity(ctx, "waiting on a lock", func(a activity) bool {
		return a.State == "active" && a.WaitEventType == "Lock" && a.runs(s.Query)
	}))
}

// ColumnExists reports whether table has a column named column.
func ColumnExists(ctx context.Context, dsn, table, column string) (bool, error) {
	conn, err := probeConn(ctx, dsn)
	if err != nil {
		return false, err
	}
	defer conn.Close(context.Background())
	var exists bool
	err = conn.QueryRow(ctx, `
SELECT EXISTS (SELECT 1 FROM pg_attribute
  WHERE attrelid = $1::text::regclass AND attname = $2 AND attnum > 0 AND NOT attisdropped)`,
		tableIdent(table), column).Scan(&exists)
	if err != nil {
		return false, fmt.Errorf("incident: look for column %s of %s: %w", column, table, err)
	}
	return exists, nil
}

// RelationLock is one row of pg_locks on a table.
type RelationLock struct {
	PID     int
	Mode    string
	Granted bool
}

// String renders the lock as "pid 123 holds AccessShareLock" or "pid 124
// waits for AccessExclusiveLock".
func (l RelationLock) String() string {
	verb := "waits for"
	if l.Granted {
		verb = "holds"
	}
	return fmt.Sprintf("pid %d %s %s", l.PID, verb, l.Mode)
}

// RelationLocks returns the relation locks on table held or awaited by
// other sessions: granted ones first, then the waiters in the order they
// started waiting (pg_locks.waitstart, PostgreSQL 14 and later; by pid
// before).
func RelationLocks(ctx context.Context, dsn, table string) ([]RelationLock, error) {
	conn, err := probeConn(ctx, dsn)
	if err != nil {
		return nil, err
	}
	defer conn.Close(context.Background())
	var version int
	if err := conn.QueryRow(ctx, "SELECT current_setting('server_version_num')::int").Scan(&version); err != nil {
		return nil, fmt.Errorf("incident: read the server version: %w", err)
	}
	order := "l.pid"
	if version >= 140000 {
		order = "l.waitstart NULLS FIRST, l.pid"
	}
	locks := []RelationLock{}
	err = conn.Query(ctx, func(r pgsession.Row) error {
		var l RelationLock
		if err := r.Scan(&l.PID, &l.Mode, &l.Granted); err != nil {
			return err
		}
		locks = append(locks, l)
		return nil
	}, `
SELECT l.pid, l.mode, l.granted FROM pg_locks AS l
WHERE l.locktype = 'relation' AND l.relation = $1::text::regclass
  AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
  AND l.pid <> pg_backend_pid()
ORDER BY l.granted DESC, `+order, tableIdent(table))
	if err != nil {
		return nil, fmt.Errorf("incident: read pg_locks on %s: %w", table, err)
	}
	return locks, nil
}

// LockQueue renders locks as a queue, holders first: "pid 1 holds
// AccessShareLock ← pid 2 waits for AccessExclusiveLock ← ...".
func LockQueue(locks []RelationLock) string {
	parts := make([]string, len(locks))
	for i, l := range locks {
		parts[i] = l.String()
	}
	return strings.Join(parts, " ← ")
}
