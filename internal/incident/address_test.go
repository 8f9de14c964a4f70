//go:build linux

package incident

import (
	"net"
	"os"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/pgrunbook/pgrunbook/internal/pg/pgtest"
)

// TestIdleFromASecondAddress: once AllowClientAddress let 127.0.0.2 in,
// a session dialled from it shows that client_addr while the others show
// 127.0.0.1. (Linux: every 127/8 address is the loopback interface.)
func TestIdleFromASecondAddress(t *testing.T) {
	t.Parallel()
	ctx := pgtest.Context(t)
	dsn := localDSN(t)
	gone := net.ParseIP("127.0.0.2")
	// Until it is let in, pg_hba.conf refuses it (28000); with -count
	// above 1 an earlier run of this test already let it in.
	if s, err := IdleFrom(ctx, dsn, "worker", gone); err == nil {
		s.Close()
		t.Log("127.0.0.2 was already let in")
	} else if got := sqlstate(err); got != "28000" {
		t.Fatalf("connecting from 127.0.0.2 before it was let in: %v, want SQLSTATE 28000", err)
	}
	for range 2 { // idempotent
		if err := AllowClientAddress(ctx, dsn, gone); err != nil {
			t.Fatal(err)
		}
	}
	ctl, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer ctl.Close(ctx)
	var path string
	if err := ctl.QueryRow(ctx, "SHOW hba_file").Scan(&path); err != nil {
		t.Fatal(err)
	}
	hba, err := os.ReadFile(path)
	if err != nil || strings.Count(string(hba), "host all all 127.0.0.2/32 trust") != 1 {
		t.Errorf("%s holds the line %d times (%v), want once", path, strings.Count(string(hba), "host all all 127.0.0.2/32 trust"), err)
	}

	dead, err := IdleFrom(ctx, dsn, "worker", gone)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(dead.Close)
	alive, err := Idle(ctx, dsn, "bystander")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(alive.Close)
	addr := func(pid int) string {
		t.Helper()
		var a, st string
		if err := ctl.QueryRow(ctx, "SELECT host(client_addr), state FROM pg_stat_activity WHERE pid = $1", pid).Scan(&a, &st); err != nil {
			t.Fatal(err)
		}
		return a + " " + st
	}
	if got := addr(dead.PID); got != "127.0.0.2 idle" {
		t.Errorf("the dead client's session: %q, want 127.0.0.2 idle", got)
	}
	if got := addr(alive.PID); got != "127.0.0.1 idle" {
		t.Errorf("the bystander: %q, want 127.0.0.1 idle", got)
	}
	if err := AllowClientAddress(ctx, dsn, net.ParseIP("::1")); err == nil {
		t.Error("AllowClientAddress took an IPv6 address")
	}
}
