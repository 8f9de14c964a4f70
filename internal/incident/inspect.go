package incident

import (
	"context"
	"fmt"
	"time"

	"github.com/pgrunbook/pgrunbook/internal/pg/pgsession"
)

// Backend is a client backend as pg_stat_activity shows it, for checking
// what a staged incident looks like before and after a run.
type Backend struct {
	PID          int
	BackendStart time.Time
	// QueryStart is the zero time when the backend never ran a statement.
	QueryStart      time.Time
	ApplicationName string
	State           string
	WaitEventType   string
	WaitEvent       string
	// ClientAddr is host(client_addr); "" for a unix-socket connection.
	ClientAddr string
	// BackendXmin is backend_xmin as text; "" when it has none.
	BackendXmin string
	// BlockedBy holds pg_blocking_pids for a backend waiting on a lock
	// (and is empty otherwise: the function is only called for those).
	BlockedBy []int
}

// ClientBackends returns the client backends connected to dsn's database,
// ordered by pid, without the connection asking and this package's other
// probe connections.
func ClientBackends(ctx context.Context, dsn string) ([]Backend, error) {
	conn, err := probeConn(ctx, dsn)
	if err != nil {
		return nil, err
	}
	defer conn.Close(context.Background())
	var out []Backend
	err = conn.Query(ctx, func(r pgsession.Row) error {
		var b Backend
		var queryStart *time.Time
		if err := r.Scan(&b.PID, &b.BackendStart, &queryStart, &b.ApplicationName, &b.State,
			&b.WaitEventType, &b.WaitEvent, &b.ClientAddr, &b.BackendXmin, &b.BlockedBy); err != nil {
			return err
		}
		if queryStart != nil {
			b.QueryStart = *queryStart
		}
		out = append(out, b)
		return nil
	}, `
SELECT pid, backend_start, query_start, coalesce(application_name, ''),
  coalesce(state, ''), coalesce(wait_event_type, ''), coalesce(wait_event, ''),
  coalesce(host(client_addr), ''), coalesce(backend_xmin::text, ''),
  CASE WHEN wait_event_type = 'Lock' THEN pg_blocking_pids(pid) ELSE '{}' END
FROM pg_stat_activity
WHERE backend_type = 'client backend' AND datname = current_database()
  AND pid <> pg_backend_pid() AND application_name <> $1
ORDER BY pid`, ProbeApp)
	if err != nil {
		return nil, fmt.Errorf("incident: read pg_stat_activity: %w", err)
	}
	return out, nil
}

// CreateDatabase creates database name through dsn and returns the
// server's version (server_version).
func CreateDatabase(ctx context.Context, dsn, name string) (string, error) {
	conn, err := probeConn(ctx, dsn)
	if err != nil {
		return "", err
	}
	defer conn.Close(context.Background())
	var version string
	if err := conn.QueryRow(ctx, "SHOW server_version").Scan(&version); err != nil {
		return "", fmt.Errorf("incident: read the server version: %w", err)
	}
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+pgsession.QuoteName(name)); err != nil {
		return "", fmt.Errorf("incident: create database %s: %w", name, err)
	}
	return version, nil
}

// Counter reads column n of row id of a table made by CreateLockTable:
// how many updates of that row committed.
func Counter(ctx context.Context, dsn, table string, id int) (int, error) {
	conn, err := probeConn(ctx, dsn)
	if err != nil {
		return 0, err
	}
	defer conn.Close(context.Background())
	var n int
	if err := conn.QueryRow(ctx, "SELECT n FROM "+tableIdent(table)+" WHERE id = $1", id).Scan(&n); err != nil {
		return 0, fmt.Errorf("incident: read %s row %d: %w", table, id, err)
	}
	return n, nil
}
