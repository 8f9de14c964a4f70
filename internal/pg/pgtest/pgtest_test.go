package pgtest

import (
	"context"
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
)

func TestMain(m *testing.M) { os.Exit(Main(m)) }

func TestConnect(t *testing.T) {
	conn := Connect(t)
	var one int
	if err := conn.QueryRow(context.Background(), "SELECT 1").Scan(&one); err != nil || one != 1 {
		t.Fatalf("SELECT 1 = %d, %v", one, err)
	}
	if os.Getenv(EnvDSN) == "" && Cluster() == nil {
		t.Fatal("Cluster() is nil although no external DSN is configured")
	}
}

func TestCreateDatabase(t *testing.T) {
	var name string
	t.Run("create", func(t *testing.T) {
		// held stays connected while the database is dropped: its
		// cleanup is registered first, so it runs last.
		var held *pgx.Conn
		t.Cleanup(func() {
			if held != nil {
				_ = held.Close(context.Background())
			}
		})
		name = CreateDatabase(t, "PgTest-Create")
		if !strings.HasPrefix(name, "pgtest_create_") {
			t.Errorf("database name %q does not start with the sanitised prefix", name)
		}
		conn := ConnectTo(t, name)
		var got string
		err := conn.QueryRow(context.Background(), "SELECT current_database()").Scan(&got)
		if err != nil {
			t.Fatal(err)
		}
		if got != name {
			t.Errorf("current_database() = %q, want %q", got, name)
		}
		held, err = pgx.Connect(context.Background(), DSNFor(name))
		if err != nil {
			t.Fatal(err)
		}
	})
	conn := Connect(t)
	var exists bool
	if err := conn.QueryRow(context.Background(), "SELECT EXISTS (SELECT FROM pg_database WHERE datname = $1)", name).Scan(&exists); err != nil {
		t.Fatal(err)
	}
	if exists {
		t.Errorf("database %s still exists after the test ended", name)
	}
}

func TestDatabaseName(t *testing.T) {
	a, b := databaseName("x"), databaseName("x")
	if a == b {
		t.Errorf("databaseName returned %q twice", a)
	}
	long := databaseName(strings.Repeat("abc", 40))
	if len(long) > maxIdentLen {
		t.Errorf("databaseName produced %d bytes: %q", len(long), long)
	}
	if n := databaseName("1-Ü"); !strings.HasPrefix(n, "t_1__") {
		t.Errorf("databaseName(%q) = %q", "1-Ü", n)
	}
}

func TestWithDatabase(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"host=h user=u dbname=postgres", "host=h user=u dbname=postgres dbname=app"},
		{"host=h user=u", "host=h user=u dbname=app"},
		{"postgres://u:p@h:5432/postgres?sslmode=disable", "postgres://u:p@h:5432/app?sslmode=disable"},
		{"postgresql://h1:5432,h2:5433", "postgresql://h1:5432,h2:5433/app"},
		{"postgres://h/?sslmode=disable", "postgres://h/app?sslmode=disable"},
		{"postgres://h?sslmode=disable", "postgres://h/app?sslmode=disable"},
	} {
		if got := withDatabase(tc.in, "app"); got != tc.want {
			t.Errorf("withDatabase(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
	if got := withDatabase("host=h", "my db"); got != "host=h dbname='my db'" {
		t.Errorf("quoting: %q", got)
	}
}

func TestStartPgBouncer(t *testing.T) {
	ctx := context.Background()
	for _, mode := range []string{SessionPooling, TransactionPooling} {
		t.Run(mode, func(t *testing.T) {
			b := StartPgBouncer(t, PgBouncerOptions{PoolMode: mode, DefaultPoolSize: 2})
			dir := b.Dir
			conn, err := pgx.Connect(ctx, b.DSN("postgres"))
			if err != nil {
				t.Fatalf("connect through pgbouncer: %v\n%s", err, b.Log())
			}
			defer conn.Close(ctx)
			var one int
			if err := conn.QueryRow(ctx, "SELECT 1", pgx.QueryExecModeSimpleProtocol).Scan(&one); err != nil || one != 1 {
				t.Fatalf("SELECT 1 through pgbouncer = %d, %v", one, err)
			}
			// The protocol's pid is PgBouncer's, not the server's.
			var serverPID uint32
			if err := conn.QueryRow(ctx, "SELECT pg_backend_pid()", pgx.QueryExecModeSimpleProtocol).Scan(&serverPID); err != nil {
				t.Fatal(err)
			}
			if serverPID == conn.PgConn().PID() {
				t.Errorf("BackendKeyData pid %d equals pg_backend_pid(): not through the pooler?", serverPID)
			}
			admin, err := pgx.Connect(ctx, b.AdminDSN())
			if err != nil {
				t.Fatalf("admin console: %v", err)
			}
			defer admin.Close(ctx)
			rows, err := admin.Query(ctx, "SHOW POOLS", pgx.QueryExecModeSimpleProtocol)
			if err != nil {
				t.Fatal(err)
			}
			var modes []string
			for rows.Next() {
				m := rows.FieldDescriptions()
				vals, _ := rows.Values()
				for i, f := range m {
					if f.Name == "pool_mode" {
						modes = append(modes, fmt.Sprint(vals[i]))
					}
				}
			}
			rows.Close()
			if !slices.Contains(modes, mode) {
				t.Errorf("SHOW POOLS pool_mode %v, want %s", modes, mode)
			}
			conn.Close(ctx)
			admin.Close(ctx)
			if err := b.Stop(); err != nil {
				t.Fatal(err)
			}
			if _, err := os.Stat(dir); !os.IsNotExist(err) {
				t.Errorf("pgbouncer directory %s left behind: %v", dir, err)
			}
			if _, err := pgx.Connect(ctx, b.DSN("postgres")); err == nil {
				t.Error("pgbouncer still accepts connections after Stop")
			}
		})
	}
}
