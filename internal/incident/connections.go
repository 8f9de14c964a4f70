package incident

import (
	"context"
	"fmt"

	"github.com/pgrunbook/pgrunbook/internal/pg/pgsession"
)

// SQLSTATEs of refused connections.
const (
	// SQLStateTooManyConnections is too_many_connections: "sorry, too
	// many clients already", or only reserved slots are left.
	SQLStateTooManyConnections = "53300"
	// sqlstateNoHBAEntry is invalid_authorization_specification, which a
	// pg_hba.conf without a matching line gives.
	sqlstateNoHBAEntry = "28000"
)

// CreateLoginRole creates a role that may log in (without a password: the
// sandbox trusts local connections) unless it exists.
func CreateLoginRole(ctx context.Context, dsn, role string) error {
	conn, err := probeConn(ctx, dsn)
	if err != nil {
		return err
	}
	defer conn.Close(context.Background())
	var exists bool
	if err := conn.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = $1)", role).Scan(&exists); err != nil {
		return fmt.Errorf("incident: look for role %s: %w", role, err)
	}
	if exists {
		return nil
	}
	if _, err := conn.Exec(ctx, "CREATE ROLE "+pgsession.QuoteName(role)+" LOGIN"); err != nil {
		return fmt.Errorf("incident: create role %s: %w", role, err)
	}
	return nil
}

// IdleAs opens an idle session like Idle, logged in as role instead of
// the DSN's user.
func IdleAs(ctx context.Context, dsn, app, role string) (*Session, error) {
	s, err := connectWith(ctx, dsn, pgsession.Options{App: app, User: role})
	if err != nil {
		return nil, err
	}
	s.markDone()
	return s, nil
}

// Flood is a pool of idle sessions that filled every connection slot
// the server gives ordinary roles.
type Flood struct {
	// Sessions are the idle sessions, in the order they connected.
	Sessions []*Session
	// Refused is the server's answer to the one connection more: SQLSTATE
	// 53300 (too_many_connections).
	Refused *Refusal
}

// Refusal is the server's error for a connection it did not let in.
type Refusal struct {
	// Code is the SQLSTATE.
	Code string
	// Message is the server's message.
	Message string
}

// FillConnections opens idle sessions with application_name app as role
// (which must not be a superuser: superusers may also take the reserved
// slots) until the server refuses one with SQLSTATE 53300, as an
// application whose pool grows without bound does. It opens at most
// limit sessions; reaching it without a refusal is an error. On error
// every session it opened is closed.
func FillConnections(ctx context.Context, dsn, app, role string, limit int) (*Flood, error) {
	f := &Flood{}
	fail := func(err error) (*Flood, error) {
		for _, s := range f.Sessions {
			s.Close()
		}
		return nil, err
	}
	for len(f.Sessions) < limit {
		s, err := IdleAs(ctx, dsn, app, role)
		switch {
		case pgsession.SQLState(err) == SQLStateTooManyConnections:
			f.Refused = &Refusal{Code: pgsession.SQLState(err), Message: pgsession.ServerMessage(err)}
			return f, nil
		case err != nil:
			return fail(err)
		}
		f.Sessions = append(f.Sessions, s)
	}
	return fail(fmt.Errorf("incident: the server accepted %d connections of role %s without refusing one: max_connections is larger than the flood", limit, role))
}

// Slots says how the server's connection slots are used.
type Slots struct {
	// Max is max_connections.
	Max int
	// Reserved is superuser_reserved_connections plus, from PostgreSQL 16,
	// reserved_connections: slots an ordinary role cannot take.
	Reserved int
	// Used is the number of client backends, without this package's
	// probe connections (the one asking, and any still on its way out).
	Used int
}

// Free is how many more sessions an ordinary role could open.
func (s Slots) Free() int { return max(s.Max-s.Reserved-s.Used, 0) }

// String renders the slots in one line.
func (s Slots) String() string {
	return fmt.Sprintf("%d of %d ordinary slots free (max_connections %d, %d reserved, %d in use)",
		s.Free(), s.Max-s.Reserved, s.Max, s.Reserved, s.Used)
}

// ConnectionSlots reads how the server's connection slots are used.
// Walsenders, autovacuum and background workers have slots of their own
// (walsenders since PostgreSQL 12), so only client backends count.
func ConnectionSlots(ctx context.Context, dsn string) (Slots, error) {
	conn, err := probeConn(ctx, dsn)
	if err != nil {
		return Slots{}, err
	}
	defer conn.Close(context.Background())
	var s Slots
	err = conn.QueryRow(ctx, `
SELECT current_setting('max_connections')::int,
  current_setting('superuser_reserved_connections')::int
    + coalesce(current_setting('reserved_connections', true)::int, 0),
  (SELECT count(*) FROM pg_stat_activity
   WHERE backend_type = 'client backend' AND pid <> pg_backend_pid() AND application_name IS DISTINCT FROM $1)::int`,
		ProbeApp).Scan(&s.Max, &s.Reserved, &s.Used)
	if err != nil {
		return Slots{}, fmt.Errorf("incident: read the connection slots: %w", err)
	}
	return s, nil
}

// CanConnect opens and closes one connection as role: nil when the
// server let it in, else the server's error (classify it with
// pgsession.SQLState).
func CanConnect(ctx context.Context, dsn, role string) error {
	conn, err := pgsession.Open(ctx, dsn, pgsession.Options{App: ProbeApp, User: role})
	if err != nil {
		return err
	}
	return conn.Close(ctx)
}
