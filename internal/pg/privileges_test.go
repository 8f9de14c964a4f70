package pg

import (
	"strings"
	"testing"

	"github.com/pgrunbook/pgrunbook/internal/activity"
	"github.com/pgrunbook/pgrunbook/internal/incident"
	"github.com/pgrunbook/pgrunbook/internal/pg/pgtest"
)

// TestPrivilegesPlainRole: a role with no predefined roles sees other
// roles' sessions hidden, may signal its own role's sessions, and never
// signals a session it cannot identify.
func TestPrivilegesPlainRole(t *testing.T) {
	t.Parallel()
	ctx := pgtest.Context(t)
	db := newDB(t, "pg_priv_plain")
	role := createRole(t, ctx)
	super := pgtest.Staged[*incident.Session](t)(incident.LongQuery(ctx, db.dsn, "pgrb-plain-super", longQuery))
	own := pgtest.Staged[*incident.Session](t)(incident.LongQuery(ctx, role.dsn(db.name), "pgrb-plain-own", longQuery))
	admin := connectClient(t, ctx, Options{DSN: db.dsn})
	c := connectClient(t, ctx, Options{DSN: role.dsn(db.name)})

	info := c.Info()
	if info.User != role.name || info.Privileges != (Privileges{}) {
		t.Errorf("Info() user %q privileges %+v; want %s with none", info.User, info.Privileges, role.name)
	}

	snap := snapshot(t, ctx, c)
	h := mustRow(t, snap, super.PID, "superuser's query")
	if !h.Hidden() || h.Query != activity.HiddenQuery || !h.BackendStart.IsZero() || !h.QueryStart.IsZero() ||
		h.State != "" || h.BackendType != "" {
		t.Errorf("another role's session not hidden: hidden %v query %q backend_start %v query_start %v state %q backend_type %q",
			h.Hidden(), h.Query, h.BackendStart, h.QueryStart, h.State, h.BackendType)
	}
	o := mustRow(t, snap, own.PID, "own role's query")
	if o.Hidden() || o.Query != own.Query || !o.BackendStart.Equal(own.BackendStart) || o.BackendType != activity.ClientBackend {
		t.Errorf("own role's session: %+v", o)
	}
	if me := mustRow(t, snap, info.PID, "own backend"); !me.IsSelf || me.Hidden() {
		t.Errorf("own backend row: %+v", me)
	}

	// The superuser's session, with its real identity as a superuser sees
	// it: the role cannot see that identity, so it cannot be checked and
	// nothing is sent.
	real := mustRow(t, snapshot(t, ctx, admin), super.PID, "superuser's query")
	res := signal(t, ctx, c, activity.Cancel, []activity.SignalTarget{target(real, true), target(o, true)})
	if res[0].PID != super.PID || (res[0].Outcome != activity.Changed && res[0].Outcome != activity.Denied) {
		t.Errorf("cancel of an unidentifiable superuser session: %+v, want changed or denied", res[0])
	}
	wantOutcome(t, "own role's session", res[1], own.PID, activity.Signalled)
	pgtest.WaitDone(t, own, own.App)
	if got := SQLState(own.Err()); got != "57014" {
		t.Errorf("own role's query ended with %v (SQLSTATE %q), want 57014", own.Err(), got)
	}
	stillRunning(t, ctx, admin, super, real.QueryStart)
}

// TestPrivilegesReadAllStatsThenSignalBackend: with pg_read_all_stats the
// role sees everything but is denied signalling a superuser's or another
// role's session; after GRANT pg_signal_backend it may signal the other
// non-superuser role, still not the superuser, and never a role-less
// server process.
func TestPrivilegesReadAllStatsThenSignalBackend(t *testing.T) {
	t.Parallel()
	ctx := pgtest.Context(t)
	db := newDB(t, "pg_priv_signal")
	role := createRole(t, ctx, "pg_read_all_stats")
	other := createRole(t, ctx)
	super := pgtest.Staged[*incident.Session](t)(incident.LongQuery(ctx, db.dsn, "pgrb-priv-super", longQuery))
	theirs := pgtest.Staged[*incident.Session](t)(incident.LongQuery(ctx, other.dsn(db.name), "pgrb-priv-other", longQuery))

	c := connectClient(t, ctx, Options{DSN: role.dsn(db.name)})
	if p := c.Info().Privileges; p != (Privileges{ReadAllStats: true}) {
		t.Errorf("privileges %+v, want only pg_read_all_stats", p)
	}
	snap := snapshot(t, ctx, c)
	s := mustRow(t, snap, super.PID, "superuser's query")
	o := mustRow(t, snap, theirs.PID, "other role's query")
	ckpt := rowOfType(snap, "checkpointer")
	if ckpt == nil {
		t.Fatal("no checkpointer in the snapshot")
	}
	for _, r := range []*activity.Session{s, o} {
		if r.Hidden() || r.BackendType != activity.ClientBackend || r.State != "active" {
			t.Errorf("pg_read_all_stats does not see pid %d: %+v", r.PID, r)
		}
	}

	res := signal(t, ctx, c, activity.Cancel, []activity.SignalTarget{target(s, true), target(o, true)})
	wantOutcome(t, "superuser's session", res[0], super.PID, activity.Denied)
	wantOutcome(t, "other role's session", res[1], theirs.PID, activity.Denied)
	for _, r := range res {
		if r.Message == "" || strings.ContainsAny(r.Message, "\r\n") {
			t.Errorf("denied result for pid %d has message %q, want one line", r.PID, r.Message)
		}
	}
	if !strings.Contains(res[1].Message, "pg_signal_backend") {
		t.Errorf("denial %q does not name pg_signal_backend", res[1].Message)
	}
	// A role-less server process needs a superuser even when its type is
	// allowed.
	res = signal(t, ctx, c, activity.Cancel, []activity.SignalTarget{target(ckpt, false)}, "checkpointer")
	wantOutcome(t, "checkpointer with its type allowed", res[0], ckpt.PID, activity.Denied)
	stillRunning(t, ctx, c, super, s.QueryStart)
	stillRunning(t, ctx, c, theirs, o.QueryStart)

	grant(t, ctx, "pg_signal_backend", role)
	c2 := connectClient(t, ctx, Options{DSN: role.dsn(db.name)})
	if p := c2.Info().Privileges; p != (Privileges{SignalBackend: true, ReadAllStats: true}) {
		t.Errorf("privileges after GRANT pg_signal_backend: %+v", p)
	}
	res = signal(t, ctx, c2, activity.Cancel, []activity.SignalTarget{target(s, true), target(o, true), target(ckpt, false)}, activity.ClientBackend, "checkpointer")
	wantOutcome(t, "superuser's session with pg_signal_backend", res[0], super.PID, activity.Denied)
	wantOutcome(t, "other role's session with pg_signal_backend", res[1], theirs.PID, activity.Signalled)
	wantOutcome(t, "checkpointer with pg_signal_backend", res[2], ckpt.PID, activity.Denied)
	pgtest.WaitDone(t, theirs, theirs.App)
	if got := SQLState(theirs.Err()); got != "57014" {
		t.Errorf("other role's query ended with %v (SQLSTATE %q), want 57014", theirs.Err(), got)
	}
	stillRunning(t, ctx, c2, super, s.QueryStart)
	if a := row(snapshot(t, ctx, c2), ckpt.PID); a == nil || !a.BackendStart.Equal(ckpt.BackendStart) {
		t.Error("the checkpointer is gone")
	}
}

// TestPrivilegesSignalBackendWithoutReadAllStats: pg_signal_backend alone
// lets the server accept the signal, but the role cannot see the other
// role's backend_start, so pgrunbook cannot check the identity and must
// not signal.
func TestPrivilegesSignalBackendWithoutReadAllStats(t *testing.T) {
	t.Parallel()
	ctx := pgtest.Context(t)
	db := newDB(t, "pg_priv_blind")
	role := createRole(t, ctx, "pg_signal_backend")
	other := createRole(t, ctx)
	theirs := pgtest.Staged[*incident.Session](t)(incident.LongQuery(ctx, other.dsn(db.name), "pgrb-blind-other", longQuery))
	admin := connectClient(t, ctx, Options{DSN: db.dsn})
	c := connectClient(t, ctx, Options{DSN: role.dsn(db.name)})
	if p := c.Info().Privileges; p != (Privileges{SignalBackend: true}) {
		t.Errorf("privileges %+v, want only pg_signal_backend", p)
	}
	if r := mustRow(t, snapshot(t, ctx, c), theirs.PID, "other role's query"); !r.Hidden() {
		t.Errorf("other role's session visible without pg_read_all_stats: %+v", r)
	}
	real := mustRow(t, snapshot(t, ctx, admin), theirs.PID, "other role's query")
	res := signal(t, ctx, c, activity.Cancel, []activity.SignalTarget{target(real, true)})
	if res[0].PID != theirs.PID || res[0].Outcome == activity.Signalled || res[0].Outcome == activity.Error {
		t.Errorf("cancel of a session whose identity the role cannot see: %+v, want it not signalled", res[0])
	}
	stillRunning(t, ctx, admin, theirs, real.QueryStart)
}
