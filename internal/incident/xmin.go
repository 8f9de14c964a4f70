package incident

import (
	"context"
	"fmt"

	"github.com/pgrunbook/pgrunbook/internal/pg/pgsession"
)

// SnapshotHolder opens a session that starts a REPEATABLE READ
// transaction, reads table (SELECT count(*), which takes the
// transaction's snapshot) and then sits idle in that transaction: it
// holds no row lock and has no transaction id, but its snapshot's xmin
// (pg_stat_activity.backend_xmin) keeps VACUUM from removing any row
// version that died after it started, in every table of the cluster. It
// returns once pg_stat_activity shows it idle in transaction with a
// backend_xmin, which Xmin returns.
func SnapshotHolder(ctx context.Context, dsn, app, table string) (*Session, string, error) {
	s, err := connect(ctx, dsn, app)
	if err != nil {
		return nil, "", err
	}
	s.markDone()
	fail := func(err error) (*Session, string, error) {
		s.Close()
		return nil, "", err
	}
	s.Query = "SELECT count(*) FROM " + tableIdent(table)
	if _, err := s.conn.Exec(ctx, "BEGIN ISOLATION LEVEL REPEATABLE READ"); err != nil {
		return fail(fmt.Errorf("incident: begin: %w", err))
	}
	if _, err := s.conn.Exec(ctx, s.Query); err != nil {
		return fail(fmt.Errorf("incident: %s: %w", s.Query, err))
	}
	if err := s.awaitActivity(ctx, "idle in transaction", func(a activity) bool {
		return a.State == "idle in transaction"
	}); err != nil {
		return fail(err)
	}
	xmin, err := BackendXmin(ctx, dsn, s.PID)
	if err == nil && xmin == "" {
		err = fmt.Errorf("incident: %s session (pid %d) is idle in its transaction but has no backend_xmin", app, s.PID)
	}
	if err != nil {
		return fail(err)
	}
	return s, xmin, nil
}

// BackendXmin returns pg_stat_activity.backend_xmin of pid as text; ""
// when it has none.
func BackendXmin(ctx context.Context, dsn string, pid int) (string, error) {
	conn, err := probeConn(ctx, dsn)
	if err != nil {
		return "", err
	}
	defer conn.Close(context.Background())
	var xmin string
	err = conn.QueryRow(ctx, "SELECT coalesce(backend_xmin::text, '') FROM pg_stat_activity WHERE pid = $1", pid).Scan(&xmin)
	if err != nil {
		return "", fmt.Errorf("incident: read backend_xmin of pid %d: %w", pid, err)
	}
	return xmin, nil
}

// XminHolder is something that holds the cluster's xmin horizon back.
type XminHolder struct {
	// Kind is "session", "replication slot" or "prepared transaction".
	Kind string
	// Name is the session's pid, the slot's name or the prepared
	// transaction's gid.
	Name string
	// App is the session's application_name; "" for the others.
	App string
	// Xid is the transaction id it holds: backend_xmin (or backend_xid),
	// the slot's xmin (or catalog_xmin), the prepared transaction's id.
	Xid string
}

// String renders the holder, e.g. "session pid 123 (reporting), xmin 740".
func (h XminHolder) String() string {
	switch h.Kind {
	case "session":
		return fmt.Sprintf("session pid %s (%s), xmin %s", h.Name, h.App, h.Xid)
	}
	return fmt.Sprintf("%s %s, xmin %s", h.Kind, h.Name, h.Xid)
}

// XminHolders returns everything that holds the xmin horizon at xid or
// older, in every database: sessions by backend_xmin or backend_xid (the
// connection asking excluded), replication slots by xmin or catalog_xmin,
// and prepared transactions. None means VACUUM may remove every row
// version that died before xid.
func XminHolders(ctx context.Context, dsn, xid string) ([]XminHolder, error) {
	conn, err := probeConn(ctx, dsn)
	if err != nil {
		return nil, err
	}
	defer conn.Close(context.Background())
	// age() counts back from the newest transaction id, so a larger age
	// is an older xid, whatever the wraparound.
	holders := []XminHolder{}
	err = conn.Query(ctx, func(r pgsession.Row) error {
		var h XminHolder
		if err := r.Scan(&h.Kind, &h.Name, &h.App, &h.Xid); err != nil {
			return err
		}
		holders = append(holders, h)
		return nil
	}, `
WITH pin AS (SELECT age($1::text::xid) AS age)
SELECT 'session', a.pid::text, coalesce(a.application_name, ''), coalesce(a.backend_xmin, a.backend_xid)::text
FROM pg_stat_activity AS a, pin
WHERE a.pid <> pg_backend_pid() AND (age(a.backend_xmin) >= pin.age OR age(a.backend_xid) >= pin.age)
UNION ALL
SELECT 'replication slot', s.slot_name::text, '', coalesce(s.xmin, s.catalog_xmin)::text
FROM pg_replication_slots AS s, pin
WHERE age(s.xmin) >= pin.age OR age(s.catalog_xmin) >= pin.age
UNION ALL
SELECT 'prepared transaction', p.gid, '', p.transaction::text
FROM pg_prepared_xacts AS p, pin
WHERE age(p.transaction) >= pin.age
ORDER BY 1, 2`, xid)
	if err != nil {
		return nil, fmt.Errorf("incident: look for what holds xmin %s: %w", xid, err)
	}
	return holders, nil
}
