package pg

import (
	"net"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/pgrunbook/pgrunbook/internal/pg/pgtest"
)

// TestSocketOptions reads back, from the kernel, the options pgrunbook's
// TCP socket to the server carries: keepalives and TCP_USER_TIMEOUT as
// derived from the statement timeout.
func TestSocketOptions(t *testing.T) {
	t.Parallel()
	ctx := pgtest.Context(t)
	const st = 4 * time.Second // bound 6s: keepalive every 1.5s (the kernel counts whole seconds)
	c := connectClient(t, ctx, Options{DSN: newDB(t, "pg_link_sockopt").dsn, StatementTimeout: st})
	nc := c.conn.PgConn().Conn()
	if u, ok := nc.(interface{ NetConn() net.Conn }); ok { // TLS
		nc = u.NetConn()
	}
	tc, ok := nc.(*net.TCPConn)
	if !ok {
		t.Fatalf("the test server connection is a %T, want TCP (point PGRUNBOOK_TEST_DSN at a TCP address)", nc)
	}
	raw, err := tc.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	get := func(level, opt int) int {
		var v int
		var gerr error
		if err := raw.Control(func(fd uintptr) { v, gerr = unix.GetsockoptInt(int(fd), level, opt) }); err != nil {
			t.Fatal(err)
		}
		if gerr != nil {
			t.Fatal(gerr)
		}
		return v
	}
	want := map[string][2]int{
		"SO_KEEPALIVE":     {get(syscall.SOL_SOCKET, syscall.SO_KEEPALIVE), 1},
		"TCP_KEEPIDLE":     {get(syscall.IPPROTO_TCP, unix.TCP_KEEPIDLE), 2},
		"TCP_KEEPINTVL":    {get(syscall.IPPROTO_TCP, unix.TCP_KEEPINTVL), 2},
		"TCP_KEEPCNT":      {get(syscall.IPPROTO_TCP, unix.TCP_KEEPCNT), keepAliveProbes},
		"TCP_USER_TIMEOUT": {get(syscall.IPPROTO_TCP, unix.TCP_USER_TIMEOUT), 6000},
	}
	for name, v := range want {
		if v[0] != v[1] {
			t.Errorf("%s = %d, want %d", name, v[0], v[1])
		}
	}
}
