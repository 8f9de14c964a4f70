package incident

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/pgrunbook/pgrunbook/internal/pg/pgtest"
	"github.com/pgrunbook/pgrunbook/internal/sandbox"
)

// ownCluster starts a sandbox cluster of the test's own with the given
// server settings and returns a DSN for its postgres database.
func ownCluster(t *testing.T, settings map[string]string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	c, err := sandbox.Start(ctx, sandbox.Options{Settings: settings})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := c.Stop(); err != nil {
			t.Errorf("stop the test's cluster: %v", err)
		}
	})
	return c.DSN("")
}

// localDSN returns a DSN for a fresh database on a server running on
// this machine: the test binary's sandbox, or one of the test's own
// when the tests use PGRUNBOOK_TEST_DSN (which may be remote).
func localDSN(t *testing.T) string {
	t.Helper()
	if pgtest.Cluster() != nil {
		return pgtest.DSNFor(pgtest.CreateDatabase(t, "incident"))
	}
	return ownCluster(t, nil)
}

// connectTo opens a control connection to dsn, closed when the test ends.
func connectTo(t *testing.T, dsn string) *pgx.Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close(context.Background()) })
	return conn
}
