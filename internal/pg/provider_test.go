package pg

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/pgrunbook/pgrunbook/internal/activity"
	"github.com/pgrunbook/pgrunbook/internal/incident"
	"github.com/pgrunbook/pgrunbook/internal/managed"
	"github.com/pgrunbook/pgrunbook/internal/pg/pgtest"
)

// The providers' roles and databases have fixed names, and they change
// what every connection to the cluster recognises: the tests that create
// them do not run in parallel (Go runs every sequential test of the
// package before any parallel one resumes) and drop them when they end.

// providerRole creates a role with a provider's fixed name, attributes
// (constants of the test) and predefined roles, dropped at the end.
func providerRole(t *testing.T, ctx context.Context, name, attrs string, grants ...string) {
	t.Helper()
	ctl := pgtest.Connect(t)
	ident := pgx.Identifier{name}.Sanitize()
	if _, err := ctl.Exec(ctx, "CREATE ROLE "+ident+" "+attrs); err != nil {
		t.Fatalf("create role %s: %v", name, err)
	}
	t.Cleanup(func() { dropCleanup(t, "DROP ROLE IF EXISTS "+ident) })
	for _, g := range grants {
		if _, err := ctl.Exec(ctx, "GRANT "+pgx.Identifier{g}.Sanitize()+" TO "+ident); err != nil {
			t.Fatalf("grant %s to %s: %v", g, name, err)
		}
	}
}

// providerDatabase creates a database with a provider's fixed name,
// dropped at the end.
func providerDatabase(t *testing.T, ctx context.Context, name string) {
	t.Helper()
	ident := pgx.Identifier{name}.Sanitize()
	if _, err := pgtest.Connect(t).Exec(ctx, "CREATE DATABASE "+ident); err != nil {
		t.Fatalf("create database %s: %v", name, err)
	}
	t.Cleanup(func() { dropCleanup(t, "DROP DATABASE IF EXISTS "+ident+" WITH (FORCE)") })
}

func dropCleanup(t *testing.T, stmt string) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, pgtest.DSN())
	if err != nil {
		t.Errorf("%s: %v", stmt, err)
		return
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, stmt); err != nil {
		t.Errorf("%s: %v", stmt, err)
	}
}

// reserve returns the reserve named setting, or nil.
func reserve(info ServerInfo, setting string) *managed.ReservedSlots {
	for i := range info.ReservedSlots {
		if info.ReservedSlots[i].Setting == setting {
			return &info.ReservedSlots[i]
		}
	}
	return nil
}

// TestProviderRDSRecognisedWithReservedSlots: with RDS's roles and
// database in place (rdsadmin a superuser, rds_superuser a NOSUPERUSER
// role holding pg_signal_backend and pg_monitor), a member of
// rds_superuser is told it is on RDS, which superusers only AWS can
// signal, and that it may use RDS's reserved slots but not the
// superusers'; the signalling statement refuses rdsadmin's session and
// signals the application's.
func TestProviderRDSRecognisedWithReservedSlots(t *testing.T) {
	ctx := pgtest.Context(t)
	db := newDB(t, "pg_provider_rds")
	providerRole(t, ctx, "rds_superuser", "NOLOGIN NOSUPERUSER", "pg_signal_backend", "pg_monitor")
	providerRole(t, ctx, "rdsadmin", "LOGIN SUPERUSER")
	providerDatabase(t, ctx, "rdsadmin")
	master, plain := createRole(t, ctx), createRole(t, ctx)
	grant(t, ctx, "rds_superuser", master)
	for _, r := range []testRole{master, plain} {
		// How RDS's parameter group reaches a session, short of a
		// server-wide setting in a cluster the package shares.
		if _, err := db.ctl.Exec(ctx, "ALTER ROLE "+r.name+" SET rds.rds_superuser_reserved_connections = '2'"); err != nil {
			t.Fatal(err)
		}
	}
	var superReserved int
	if err := db.ctl.QueryRow(ctx, "SELECT current_setting('superuser_reserved_connections')::int").Scan(&superReserved); err != nil {
		t.Fatal(err)
	}

	c := connectClient(t, ctx, Options{DSN: master.dsn(db.name)})
	info := c.Info()
	p := info.Provider
	if p == nil || p.ID != "rds" || p.Operator != "AWS" {
		t.Fatalf("provider %+v, want rds run by AWS", p)
	}
	if want := []string{"role rdsadmin", "role rds_superuser", "database rdsadmin"}; !slices.Equal(p.Markers, want) {
		t.Errorf("markers %v, want %v", p.Markers, want)
	}
	if !p.IsSuperuserRole("rdsadmin") || p.IsSuperuserRole(master.name) || p.IsSuperuserRole("rds_superuser") {
		t.Errorf("superuser roles %v: want rdsadmin, not %s or rds_superuser", p.SuperuserRoles, master.name)
	}
	if !info.Privileges.SignalBackend || !info.Privileges.ReadAllStats || info.Privileges.Superuser {
		t.Errorf("privileges through rds_superuser %+v, want pg_signal_backend and pg_read_all_stats", info.Privileges)
	}
	if r := reserve(info, managed.SuperuserReserved); superReserved > 0 && (r == nil || r.Slots != superReserved || r.Usable) {
		t.Errorf("superuser reserve %+v, want %d slots not usable", r, superReserved)
	}
	if r := reserve(info, managed.RDSSuperuserReserved); r == nil || r.Slots != 2 || !r.Usable {
		t.Errorf("rds_superuser reserve %+v, want 2 slots usable", r)
	}
	if r := reserve(info, managed.Reserved); info.VersionNum < 160000 && r != nil {
		t.Errorf("reserved_connections %+v on PostgreSQL %d, which has no such setting", r, info.VersionNum)
	}

	pi := connectClient(t, ctx, Options{DSN: plain.dsn(db.name)}).Info()
	if pi.Provider == nil || pi.Provider.ID != "rds" {
		t.Errorf("a plain role is not told it is on RDS: %+v", pi.Provider)
	}
	if r := reserve(pi, managed.RDSSuperuserReserved); r == nil || r.Usable {
		t.Errorf("rds_superuser reserve for a non-member %+v, want present and not usable", r)
	}
	ai := connectClient(t, ctx, Options{DSN: db.dsn}).Info()
	if ai.Provider == nil || len(ai.Provider.SuperuserRoles) != 0 {
		t.Errorf("as a superuser: provider %+v, want rds with no superuser roles beyond reach", ai.Provider)
	}
	if r := reserve(ai, managed.SuperuserReserved); superReserved > 0 && (r == nil || !r.Usable) {
		t.Errorf("superuser reserve for a superuser %+v, want usable", r)
	}

	// What the engine predicts at selection, the statement predicts too:
	// rdsadmin's session is refused without a signal, the app's is not.
	admin := pgtest.Staged[*incident.Session](t)(incident.LongQuery(ctx, db.dsn+" user=rdsadmin", "rds-monitor", longQuery))
	app := pgtest.Staged[*incident.Session](t)(incident.LongQuery(ctx, plain.dsn(db.name), "app-report", longQuery))
	snap := snapshot(t, ctx, c)
	a, o := mustRow(t, snap, admin.PID, "rdsadmin"), mustRow(t, snap, app.PID, "app")
	if a.Usename != "rdsadmin" || !p.IsSuperuserRole(a.Usename) {
		t.Errorf("rdsadmin's row has usename %q", a.Usename)
	}
	res := signal(t, ctx, c, activity.Cancel, []activity.SignalTarget{target(a, true), target(o, true)})
	wantOutcome(t, "rdsadmin's session", res[0], admin.PID, activity.Denied)
	wantOutcome(t, "app session", res[1], app.PID, activity.Signalled)
	pgtest.WaitDone(t, app, app.App)
	stillRunning(t, ctx, c, admin, a.QueryStart)
}

// TestProviderMarkersOfEachService: each provider's marker roles (and
// databases) alone make a connection recognise that provider, and its
// superuser role is the one listed.
func TestProviderMarkersOfEachService(t *testing.T) {
	supers := map[string]string{"rds": "rdsadmin", "cloudsql": "cloudsqladmin", "azure": "azuresu", "supabase": "supabase_admin", "neon": "cloud_admin"}
	for _, k := range managed.Providers {
		t.Run(k.ID, func(t *testing.T) {
			ctx := pgtest.Context(t)
			db := newDB(t, "pg_provider_"+k.ID)
			viewer := createRole(t, ctx)
			if p := connectClient(t, ctx, Options{DSN: viewer.dsn(db.name)}).Info().Provider; p != nil {
				t.Fatalf("before the markers exist: provider %+v", p)
			}
			for _, r := range k.MarkerRoles {
				attrs := "NOLOGIN NOSUPERUSER"
				if r == supers[k.ID] {
					attrs = "NOLOGIN SUPERUSER"
				}
				providerRole(t, ctx, r, attrs)
			}
			if s := supers[k.ID]; !slices.Contains(k.MarkerRoles, s) {
				providerRole(t, ctx, s, "NOLOGIN SUPERUSER")
			}
			for _, d := range k.MarkerDatabases {
				providerDatabase(t, ctx, d)
			}
			p := connectClient(t, ctx, Options{DSN: viewer.dsn(db.name)}).Info().Provider
			if p == nil || p.ID != k.ID || len(p.Markers) != len(k.MarkerRoles)+len(k.MarkerDatabases) {
				t.Fatalf("provider %+v, want %s by all %d markers", p, k.ID, len(k.MarkerRoles)+len(k.MarkerDatabases))
			}
			if !p.IsSuperuserRole(supers[k.ID]) {
				t.Errorf("superuser roles %v lack %s", p.SuperuserRoles, supers[k.ID])
			}
			if r := p.DeniedReason(supers[k.ID]); !strings.Contains(r, "only "+k.Operator+" can end this session") {
				t.Errorf("reason %q does not name %s", r, k.Operator)
			}
		})
	}
}
