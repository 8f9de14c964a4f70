package engine_test

// The wire side of the round-trip tests (roundtrip_test.go): a proxy
// between the client and the server that counts the protocol messages
// the client sends.

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"net/url"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/jackc/pgx/v5/pgconn"
)

// wireCount counts frontend protocol messages by kind.
type wireCount struct {
	Query, Parse, Bind, Describe, Execute, Sync, Other int
}

// statements is how many statements were executed: one per Execute of
// the extended protocol, one per simple Query.
func (c wireCount) statements() int { return c.Execute + c.Query }

// roundTrips is how many times the client waited for the server: each
// Sync and each simple Query ends with ReadyForQuery.
func (c wireCount) roundTrips() int { return c.Sync + c.Query }

func (c wireCount) minus(o wireCount) wireCount {
	return wireCount{c.Query - o.Query, c.Parse - o.Parse, c.Bind - o.Bind, c.Describe - o.Describe,
		c.Execute - o.Execute, c.Sync - o.Sync, c.Other - o.Other}
}

// wireCounter is a TCP proxy to the test server that counts the messages
// its clients send. A message is counted when the proxy reads it, before
// it is forwarded, so by the time a reply reaches the client every
// message that caused it has been counted.
type wireCounter struct {
	// dsn connects through the proxy with the test server's credentials.
	dsn string

	ln              net.Listener
	network, server string

	mu    sync.Mutex
	n     wireCount
	conns []net.Conn
	wg    sync.WaitGroup
}

// Protocol codes of the untyped messages a client may send first.
const (
	sslRequestCode    = 80877103
	gssEncRequestCode = 80877104
)

func startWireCounter(t *testing.T, dsn string) *wireCounter {
	t.Helper()
	cfg, err := pgconn.ParseConfig(dsn)
	if err != nil {
		t.Fatal(err)
	}
	w := &wireCounter{network: "tcp", server: net.JoinHostPort(cfg.Host, strconv.Itoa(int(cfg.Port)))}
	if strings.HasPrefix(cfg.Host, "/") {
		w.network, w.server = "unix", filepath.Join(cfg.Host, fmt.Sprintf(".s.PGSQL.%d", cfg.Port))
	}
	w.ln, err = net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	w.dsn = throughProxy(t, dsn, w.ln.Addr().(*net.TCPAddr).Port)
	w.wg.Add(1)
	go w.accept()
	t.Cleanup(w.close)
	return w
}

// throughProxy points dsn at the proxy on 127.0.0.1:port, without TLS
// (the proxy reads the protocol).
func throughProxy(t *testing.T, dsn string, port int) string {
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
	// In a keyword/value string a later setting overrides an earlier one.
	return fmt.Sprintf("%s host=127.0.0.1 port=%d sslmode=disable", dsn, port)
}

func (w *wireCounter) count() wireCount {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.n
}

func (w *wireCounter) add(kind byte) {
	w.mu.Lock()
	defer w.mu.Unlock()
	switch kind {
	case 'Q':
		w.n.Query++
	case 'P':
		w.n.Parse++
	case 'B':
		w.n.Bind++
	case 'D':
		w.n.Describe++
	case 'E':
		w.n.Execute++
	case 'S':
		w.n.Sync++
	case 'X': // Terminate, at Close: not traffic of the run
	default:
		w.n.Other++
	}
}

func (w *wireCounter) accept() {
	defer w.wg.Done()
	for {
		c, err := w.ln.Accept()
		if err != nil {
			return
		}
		w.mu.Lock()
		w.conns = append(w.conns, c)
		w.mu.Unlock()
		w.wg.Add(1)
		go func() {
			defer w.wg.Done()
			w.serve(c)
		}()
	}
}

// serve relays one client connection: server to client as bytes, client
// to server message by message, counting each.
func (w *wireCounter) serve(client net.Conn) {
	defer client.Close()
	server, err := net.Dial(w.network, w.server)
	if err != nil {
		return
	}
	defer server.Close()
	w.mu.Lock()
	w.conns = append(w.conns, server)
	w.mu.Unlock()
	w.wg.Add(1)
	go func() {
		defer w.wg.Done()
		_, _ = io.Copy(client, server)
		_ = client.Close()
	}()
	in := bufio.NewReader(client)
	for {
		// Startup: untyped, length-prefixed. Refuse encryption so the
		// rest stays readable.
		msg, err := readMessage(in, false)
		if err != nil || len(msg) < 8 {
			return
		}
		if code := binary.BigEndian.Uint32(msg[4:8]); code == sslRequestCode || code == gssEncRequestCode {
			if _, err := client.Write([]byte{'N'}); err != nil {
				return
			}
			continue
		}
		if _, err := server.Write(msg); err != nil {
			return
		}
		break
	}
	for {
		msg, err := readMessage(in, true)
		if err != nil {
			return
		}
		w.add(msg[0])
		if _, err := server.Write(msg); err != nil {
			return
		}
	}
}

// readMessage reads one protocol message, with its type byte if typed.
func readMessage(r *bufio.Reader, typed bool) ([]byte, error) {
	head := 4
	if typed {
		head = 5
	}
	msg := make([]byte, head)
	if _, err := io.ReadFull(r, msg); err != nil {
		return nil, err
	}
	n := int(binary.BigEndian.Uint32(msg[head-4:]))
	if n < 4 || n > 1<<30 {
		return nil, fmt.Errorf("bad message length %d", n)
	}
	msg = append(msg, make([]byte, n-4)...)
	if _, err := io.ReadFull(r, msg[head:]); err != nil {
		return nil, err
	}
	return msg, nil
}

func (w *wireCounter) close() {
	_ = w.ln.Close()
	w.mu.Lock()
	for _, c := range w.conns {
		_ = c.Close()
	}
	w.mu.Unlock()
	w.wg.Wait()
}
