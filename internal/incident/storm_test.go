package incident

import (
	"context"
	"testing"
	"time"

	"github.com/pgrunbook/pgrunbook/internal/pg/pgtest"
)

// TestStormComesBack: each storm session re-issues its statement after
// a cancel, with a new query_start; a terminate ends its loop.
func TestStormComesBack(t *testing.T) {
	t.Parallel()
	ctx := pgtest.Context(t)
	dsn, ctl := newDB(t)
	const sql = "SELECT pg_sleep(60) AS storm"
	var storm []*StormSession
	for range 3 {
		s, err := Storm(ctx, dsn, "api", sql, 50*time.Millisecond)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(s.Close)
		storm = append(storm, s)
	}
	queryStart := func(pid int) (string, time.Time) {
		t.Helper()
		var st string
		var qs time.Time
		if err := ctl.QueryRow(ctx, "SELECT state, query_start FROM pg_stat_activity WHERE pid = $1 AND query = $2", pid, sql).Scan(&st, &qs); err != nil {
			return "", time.Time{}
		}
		return st, qs
	}
	for _, s := range storm {
		st, first := queryStart(s.PID)
		if st != "active" || s.Runs() != 1 || s.Cancels() != 0 {
			t.Fatalf("storm session %d: state %q, %d runs, %d cancels; want active, 1, 0", s.PID, st, s.Runs(), s.Cancels())
		}
		signalBackend(t, ctl, "pg_cancel_backend", s.PID)
		select {
		case <-s.FirstEnded():
		case <-time.After(30 * time.Second):
			t.Fatal("the first run did not end after its cancel")
		}
		if got := sqlstate(s.FirstErr()); got != "57014" {
			t.Fatalf("first run ended with %v, want 57014", s.FirstErr())
		}
		deadline := time.Now().Add(30 * time.Second)
		for {
			st, again := queryStart(s.PID)
			if st == "active" && again.After(first) && s.Runs() == 2 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("storm session %d did not come back: state %q, query_start %s (first %s), %d runs", s.PID, st, again, first, s.Runs())
			}
			time.Sleep(10 * time.Millisecond)
		}
		if s.Cancels() != 1 || !s.Alive(context.Background()) {
			t.Errorf("storm session %d: %d cancels, alive %v", s.PID, s.Cancels(), s.Alive(context.Background()))
		}
	}
	signalBackend(t, ctl, "pg_terminate_backend", storm[0].PID)
	pgtest.WaitDone(t, storm[0].Session, storm[0].Session.App)
	if got := sqlstate(storm[0].Err()); got != "57P01" {
		t.Errorf("a terminated storm session's loop ended with %v, want 57P01", storm[0].Err())
	}
	storm[1].Close()
	pgtest.WaitGone(t, ctx, ctl, storm[1].PID)
}

// TestEnableQueryID: after EnableQueryID, new sessions of the database
// show their statement's query_id, the same for the same statement.
func TestEnableQueryID(t *testing.T) {
	t.Parallel()
	ctx := pgtest.Context(t)
	dsn, ctl := newDB(t)
	var db string
	var version int
	if err := ctl.QueryRow(ctx, "SELECT current_database(), current_setting('server_version_num')::int").Scan(&db, &version); err != nil {
		t.Fatal(err)
	}
	on, err := EnableQueryID(ctx, dsn, db)
	if version < 140000 {
		if err != nil || on {
			t.Errorf("EnableQueryID on PostgreSQL %d = %v, %v; want false: there is no query_id", version, on, err)
		}
		return
	}
	if err != nil || !on {
		t.Fatalf("EnableQueryID = %v, %v; want true on PostgreSQL 14+", on, err)
	}
	var ids []int64
	for range 2 {
		s, err := LongQuery(ctx, dsn, "it-query-id", time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(s.Close)
		var id *int64
		if err := ctl.QueryRow(ctx, "SELECT query_id FROM pg_stat_activity WHERE pid = $1", s.PID).Scan(&id); err != nil || id == nil {
			t.Fatalf("query_id of pid %d: %v, %v; want one", s.PID, id, err)
		}
		ids = append(ids, *id)
	}
	if ids[0] != ids[1] || ids[0] == 0 {
		t.Errorf("query_ids %v, want the same non-zero id for the same statement", ids)
	}
}
