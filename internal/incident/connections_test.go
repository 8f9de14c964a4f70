package incident

import (
	"errors"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/pgrunbook/pgrunbook/internal/pg/pgtest"
)

// TestFillConnections fills a small server with one role's idle
// sessions: the server refuses the next one with 53300 while a superuser
// still gets in through the reserved slots, and terminating sessions
// frees slots that ConnectionSlots counts and CanConnect uses.
func TestFillConnections(t *testing.T) {
	t.Parallel()
	ctx := pgtest.Context(t)
	dsn := ownCluster(t, map[string]string{"max_connections": "12", "superuser_reserved_connections": "3"})
	if err := CreateLoginRole(ctx, dsn, "webapp"); err != nil {
		t.Fatal(err)
	}
	if err := CreateLoginRole(ctx, dsn, "webapp"); err != nil {
		t.Fatalf("CreateLoginRole is not idempotent: %v", err)
	}
	if s, err := ConnectionSlots(ctx, dsn); err != nil || s != (Slots{Max: 12, Reserved: 3}) || s.Free() != 9 {
		t.Fatalf("slots of an empty server: %+v (free %d), %v", s, s.Free(), err)
	}
	flood, err := FillConnections(ctx, dsn, "webapp", "webapp", 50)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		for _, s := range flood.Sessions {
			s.Close()
		}
	})
	if len(flood.Sessions) != 9 || flood.Refused == nil || flood.Refused.Code != SQLStateTooManyConnections {
		t.Fatalf("%d sessions, refused with %v; want 9 and SQLSTATE 53300", len(flood.Sessions), flood.Refused)
	}
	var pgErr *pgconn.PgError
	if err := CanConnect(ctx, dsn, "webapp"); !errors.As(err, &pgErr) || pgErr.Code != SQLStateTooManyConnections {
		t.Errorf("CanConnect(webapp) on a full server = %v, want SQLSTATE 53300", err)
	}
	// The DSN's user is the superuser: it gets in through a reserved slot.
	ctl, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatalf("the superuser cannot get in: %v", err)
	}
	defer ctl.Close(ctx)
	// The refused connections' backends hold their slots until they have
	// exited, a moment after the refusal, and until then the probe may be
	// refused too: poll.
	for deadline := time.Now().Add(10 * time.Second); ; {
		s, err := ConnectionSlots(ctx, dsn)
		if err == nil && s.Free() == 0 && s.Used == 10 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("slots of the full server: %+v (free %d), %v; want 10 used (9 webapp and the superuser's), none free", s, s.Free(), err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	var app, user string
	if err := ctl.QueryRow(ctx, "SELECT application_name, usename FROM pg_stat_activity WHERE pid = $1", flood.Sessions[0].PID).Scan(&app, &user); err != nil || app != "webapp" || user != "webapp" {
		t.Errorf("flood session shows as %q/%q (%v)", app, user, err)
	}

	for _, victim := range flood.Sessions[:2] {
		signalBackend(t, ctl, "pg_terminate_backend", victim.PID)
		pgtest.WaitGone(t, ctx, ctl, victim.PID)
	}
	if s, err := ConnectionSlots(ctx, dsn); err != nil || s.Free() != 1 {
		t.Errorf("after terminating two: %s (%v), want 1 free (the superuser's session holds one)", s, err)
	}
	// A backend gives its slot back a moment after it left
	// pg_stat_activity, and so does each probe's: poll.
	for deadline := time.Now().Add(10 * time.Second); ; {
		err := CanConnect(ctx, dsn, "webapp")
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("CanConnect(webapp) after freeing slots: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if f, err := FillConnections(ctx, dsn, "webapp", "webapp", 0); err == nil {
		t.Errorf("FillConnections with a limit of 0 succeeded: %+v", f)
	}
	ctl.Close(ctx)
	deadline := time.Now().Add(10 * time.Second)
	for {
		s, err := ConnectionSlots(ctx, dsn)
		if err == nil && s.Free() == 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("slots after the superuser left: %s (%v), want 2 free", s, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
