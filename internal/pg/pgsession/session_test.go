package pgsession

import (
	"errors"
	"os"
	"testing"
	"time"

	"github.com/pgrunbook/pgrunbook/internal/pg/pgtest"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

func TestSessionRunsStatementsAndReadsRows(t *testing.T) {
	t.Parallel()
	ctx := pgtest.Context(t)
	dsn := pgtest.DSNFor(pgtest.CreateDatabase(t, "pgsession"))
	s, err := Open(ctx, dsn, Options{App: "pgsession-test"})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close(ctx)

	var pid int
	var app string
	if err := s.QueryRow(ctx, "SELECT pg_backend_pid(), current_setting('application_name')").Scan(&pid, &app); err != nil {
		t.Fatal(err)
	}
	if pid != s.PID() || app != "pgsession-test" {
		t.Errorf("backend pid %d app %q, want PID() %d and pgsession-test", pid, app, s.PID())
	}
	table := "public." + "odd name"
	if _, err := s.Exec(ctx, "CREATE TABLE "+QuoteIdentifier(table)+" (n int)"); err != nil {
		t.Fatal(err)
	}
	n, err := s.Exec(ctx, "INSERT INTO "+QuoteIdentifier(table)+" SELECT generate_series(1, $1::int)", 3)
	if err != nil || n != 3 {
		t.Fatalf("insert affected %d rows (%v), want 3", n, err)
	}
	var got []int
	err = s.Query(ctx, func(r Row) error {
		var v int
		if err := r.Scan(&v); err != nil {
			return err
		}
		got = append(got, v)
		return nil
	}, "SELECT n FROM "+QuoteIdentifier(table)+" ORDER BY n")
	if err != nil || len(got) != 3 || got[0] != 1 || got[2] != 3 {
		t.Errorf("rows %v (%v), want 1 2 3", got, err)
	}
	stop := errors.New("stop")
	if err := s.Query(ctx, func(Row) error { return stop }, "SELECT 1"); !errors.Is(err, stop) {
		t.Errorf("Query returned %v, want the callback's error", err)
	}
	var v int
	if err := s.QueryRow(ctx, "SELECT 1 WHERE false").Scan(&v); !errors.Is(err, ErrNoRows) {
		t.Errorf("no row: %v, want ErrNoRows", err)
	}
	_, err = s.Exec(ctx, "SELECT * FROM "+QuoteName("no.such table"))
	if code := SQLState(err); code != "42P01" || ServerMessage(err) == "" {
		t.Errorf("missing table: %v (SQLSTATE %q), want 42P01 (undefined_table) with a message", err, code)
	}
	if SQLState(errors.New("not from the server")) != "" || ServerMessage(nil) != "" {
		t.Error("SQLState or ServerMessage classified an error the server did not send")
	}
	if s.Closed() {
		t.Error("Closed before Close")
	}
	if err := s.Close(ctx); err != nil || !s.Closed() {
		t.Errorf("Close: %v, Closed %v", err, s.Closed())
	}
}

func TestSendUnreadLeavesTheBackendWriting(t *testing.T) {
	t.Parallel()
	ctx := pgtest.Context(t)
	db := pgtest.CreateDatabase(t, "pgsession")
	ctl := pgtest.ConnectTo(t, db)
	s, err := Open(ctx, pgtest.DSNFor(db), Options{App: "pgsession-unread"})
	if err != nil {
		t.Fatal(err)
	}
	pid := s.PID()
	sock, err := s.SendUnread("SELECT repeat('x', 1024 * 1024) FROM generate_series(1, 1000)")
	if err != nil {
		t.Fatal(err)
	}
	defer sock.Close()
	// Once the socket buffers are full the backend blocks writing: poll.
	for {
		var writing bool
		err := ctl.QueryRow(ctx, `SELECT count(*) = 1 FROM pg_stat_activity
WHERE pid = $1 AND state = 'active' AND wait_event = 'ClientWrite'`, pid).Scan(&writing)
		if err != nil {
			t.Fatalf("backend %d never blocked writing to a client that does not read: %v", pid, err)
		}
		if writing {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err := sock.Close(); err != nil {
		t.Fatal(err)
	}
	pgtest.WaitGone(t, ctx, ctl, pid)
}
