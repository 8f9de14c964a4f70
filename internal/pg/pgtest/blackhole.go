package pgtest

import (
	"fmt"
	"io"
	"net"
	"net/url"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/jackc/pgx/v5/pgconn"
)

// BlackHole is a TCP proxy on 127.0.0.1 in front of a PostgreSQL server
// that a test can cut off the way a broken network does: after Cut it
// keeps every connection open, on both sides, and keeps reading from
// both, but forwards nothing; a connection made meanwhile is accepted
// and gets no answer either. Nobody sees an error or an end of stream, so
// only a client's own deadlines end its waits. Restore forwards again
// (what was dropped meanwhile stays lost, so an old connection's protocol
// stream is broken; new connections work).
type BlackHole struct {
	// Port is where the proxy listens on 127.0.0.1.
	Port int

	ln              net.Listener
	network, server string
	cut             atomic.Bool
	accepted        atomic.Int64

	stop chan struct{} // closed when the proxy stops

	mu     sync.Mutex
	conns  []net.Conn
	closed bool
	wg     sync.WaitGroup
}

// StartBlackHole starts a proxy to the server dsn points at (TCP or a
// Unix-domain socket); it is stopped when the test ends.
func StartBlackHole(t testing.TB, dsn string) *BlackHole {
	t.Helper()
	cfg, err := pgconn.ParseConfig(dsn)
	if err != nil {
		t.Fatal(err)
	}
	b := &BlackHole{stop: make(chan struct{}), network: "tcp", server: net.JoinHostPort(cfg.Host, strconv.Itoa(int(cfg.Port)))}
	if strings.HasPrefix(cfg.Host, "/") {
		b.network, b.server = "unix", filepath.Join(cfg.Host, fmt.Sprintf(".s.PGSQL.%d", cfg.Port))
	}
	if b.ln, err = net.Listen("tcp", "127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	b.Port = b.ln.Addr().(*net.TCPAddr).Port
	b.wg.Add(1)
	go b.accept()
	t.Cleanup(b.close)
	return b
}

// DSN returns dsn pointed at the proxy, without TLS.
func (b *BlackHole) DSN(t testing.TB, dsn string) string {
	t.Helper()
	return throughPort(t, dsn, b.Port)
}

// Cut stops forwarding, in both directions, without closing anything.
func (b *BlackHole) Cut() { b.cut.Store(true) }

// Restore forwards again.
func (b *BlackHole) Restore() { b.cut.Store(false) }

// Accepted is how many connections the proxy has accepted so far.
func (b *BlackHole) Accepted() int { return int(b.accepted.Load()) }

// throughPort points dsn at 127.0.0.1:port without TLS; in a
// keyword/value string a later setting overrides an earlier one.
func throughPort(t testing.TB, dsn string, port int) string {
	t.Helper()
	lower := strings.ToLower(dsn)
	if strings.HasPrefix(lower, "postgres://") || strings.HasPrefix(lower, "postgresql://") {
		u, err := url.Parse(dsn)
		if err != nil {
			t.Fatal(err)
		}
		u.Host = net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
		q := u.Query()
		q.Del("host")
		q.Del("port")
		q.Set("sslmode", "disable")
		u.RawQuery = q.Encode()
		return u.String()
	}
	return fmt.Sprintf("%s host=127.0.0.1 port=%d sslmode=disable", dsn, port)
}

// track registers c to be closed when the proxy stops; once it has
// stopped, it closes c at once and returns false.
func (b *BlackHole) track(c net.Conn) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		_ = c.Close()
		return false
	}
	b.conns = append(b.conns, c)
	return true
}

func (b *BlackHole) accept() {
	defer b.wg.Done()
	for {
		c, err := b.ln.Accept()
		if err != nil {
			return
		}
		b.accepted.Add(1)
		if !b.track(c) {
			return
		}
		b.wg.Add(1)
		go func() {
			defer b.wg.Done()
			b.serve(c)
		}()
	}
}

// serve relays one client connection until either side closes or the
// proxy stops. A connection accepted while cut is held: read from and
// never answered. While cut, the end of one side is not passed on to the
// other either.
func (b *BlackHole) serve(client net.Conn) {
	defer client.Close()
	if b.cut.Load() {
		b.relay(io.Discard, client)
		b.holdWhileCut()
		return
	}
	server, err := net.Dial(b.network, b.server)
	if err != nil {
		return
	}
	defer server.Close()
	if !b.track(server) {
		return
	}
	b.wg.Add(1)
	go func() {
		defer b.wg.Done()
		b.relay(client, server)
		b.holdWhileCut()
		_ = client.Close()
	}()
	b.relay(server, client)
	b.holdWhileCut()
}

// holdWhileCut waits for the proxy to stop if it is cut.
func (b *BlackHole) holdWhileCut() {
	if b.cut.Load() {
		<-b.stop
	}
}

// relay copies from src to dst, dropping what it reads while cut.
func (b *BlackHole) relay(dst io.Writer, src io.Reader) {
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 && !b.cut.Load() {
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

func (b *BlackHole) close() {
	_ = b.ln.Close()
	close(b.stop)
	b.mu.Lock()
	b.closed = true
	for _, c := range b.conns {
		_ = c.Close()
	}
	b.mu.Unlock()
	b.wg.Wait()
}
