package engine_test

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgproto3"

	"github.com/pgrunbook/pgrunbook/engine"
	"github.com/pgrunbook/pgrunbook/internal/pg/pgtest"
	"github.com/pgrunbook/pgrunbook/internal/playbook"
)

// startingUser is the role name of the connection held in authentication.
// It needs no role: the server asks for the password before it looks the
// role up.
const startingUser = "pgrb_still_authenticating"

// holdInAuthentication opens a connection to the harness's cluster that
// stays in the authentication phase: a pg_hba.conf line asks this one
// user name for a SCRAM password, which the connection never sends. It
// returns the connection's client port; the connection closes when the
// test ends.
func holdInAuthentication(t *testing.T) int {
	t.Helper()
	c := pgtest.Cluster()
	if c == nil {
		t.Fatal("this test changes pg_hba.conf of the harness's own cluster (PGRUNBOOK_TEST_DSN is set)")
	}
	ctx := context.Background()
	ctl := pgtest.Connect(t)
	hba := filepath.Join(c.DataDir, "pg_hba.conf")
	orig, err := os.ReadFile(hba)
	if err != nil {
		t.Fatal(err)
	}
	line := fmt.Sprintf("host all %s %s/32 scram-sha-256\n", startingUser, c.Host)
	if err := os.WriteFile(hba, append([]byte(line), orig...), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = os.WriteFile(hba, orig, 0o600)
		_, _ = ctl.Exec(context.Background(), "SELECT pg_reload_conf()")
	})
	if _, err := ctl.Exec(ctx, "SELECT pg_reload_conf()"); err != nil {
		t.Fatal(err)
	}

	startup, err := (&pgproto3.StartupMessage{
		ProtocolVersion: pgproto3.ProtocolVersionNumber,
		Parameters:      map[string]string{"user": startingUser, "database": "postgres"},
	}).Encode(nil)
	if err != nil {
		t.Fatal(err)
	}
	// The postmaster reloads pg_hba.conf asynchronously: until it has,
	// the connection is trusted and then refused for the missing role.
	deadline := time.Now().Add(20 * time.Second)
	for {
		conn, err := net.DialTimeout("tcp", net.JoinHostPort(c.Host, strconv.Itoa(c.Port)), 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
		if _, err := conn.Write(startup); err != nil {
			t.Fatal(err)
		}
		msg, err := pgproto3.NewFrontend(conn, conn).Receive()
		if err != nil {
			t.Fatal(err)
		}
		if _, ok := msg.(*pgproto3.AuthenticationSASL); ok {
			_ = conn.SetDeadline(time.Time{})
			t.Cleanup(func() { _ = conn.Close() })
			return conn.LocalAddr().(*net.TCPAddr).Port
		}
		conn.Close()
		if time.Now().After(deadline) {
			t.Fatalf("the server still answers %T to the startup of %s", msg, startingUser)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestStartingSessionsAreNeverTargets: PostgreSQL 18 shows a backend that
// is still authenticating as a client backend in state "starting", with no
// user or database; it is excluded with its reason although the filter
// matches it, and it is left alone. Older majors do not show it at all.
func TestStartingSessionsAreNeverTargets(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	port := holdInAuthentication(t)
	conn := pgtest.Connect(t)
	var v int
	if err := conn.QueryRow(ctx, "SELECT current_setting('server_version_num')::int").Scan(&v); err != nil {
		t.Fatal(err)
	}
	// The server has asked for the password, so the backend is in its
	// authentication phase now.
	var pid, rows int
	var state string
	var starts time.Time
	if err := conn.QueryRow(ctx, `SELECT count(*), coalesce(min(pid), 0), coalesce(min(state), ''), coalesce(min(backend_start), now())
        FROM pg_stat_activity WHERE client_port = $1 AND usename IS NULL AND datname IS NULL`, port).Scan(&rows, &pid, &state, &starts); err != nil {
		t.Fatal(err)
	}
	if v < 180000 {
		if rows != 0 {
			t.Fatalf("PostgreSQL %d shows %d rows for a connection still authenticating, want none", v/10000, rows)
		}
	} else if rows != 1 || state != "starting" {
		t.Fatalf("PostgreSQL %d: %d rows for the connection still authenticating (state %q), want one in state starting", v/10000, rows, state)
	}

	pb, err := playbook.Parse("starting.yaml", []byte(fmt.Sprintf(`name: starting
steps:
  - id: snap
    activity:
  - id: authenticating
    filter:
      where: client_port == %d
  - terminate:
      targets: authenticating
`, port)))
	if err != nil {
		t.Fatal(err)
	}
	r := runPlaybook(t, pb, engine.Yes, nil)

	if got := r.signalled(); len(got) != 0 {
		t.Errorf("signalled %v, want nothing", got)
	}
	var reasons []string
	for _, ev := range r.events {
		for _, x := range ev.Excluded {
			if x.Session.PID == pid {
				reasons = append(reasons, x.Reason)
			}
		}
	}
	if v >= 180000 {
		if len(reasons) == 0 || !strings.Contains(reasons[0], "still starting") {
			t.Errorf("the starting session %d is not excluded as still starting: %q", pid, reasons)
		}
		var still int
		if err := conn.QueryRow(ctx, "SELECT count(*) FROM pg_stat_activity WHERE pid = $1 AND backend_start = $2 AND state = 'starting'",
			pid, starts).Scan(&still); err != nil {
			t.Fatal(err)
		}
		if still != 1 {
			t.Errorf("the starting session %d is gone or changed", pid)
		}
	} else if len(reasons) != 0 {
		t.Errorf("excluded reasons %q for a session the server does not show", reasons)
	}
}
