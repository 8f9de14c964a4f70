package engine_test

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/pgrunbook/pgrunbook/engine"
	"github.com/pgrunbook/pgrunbook/internal/activity"
	"github.com/pgrunbook/pgrunbook/internal/incident"
	"github.com/pgrunbook/pgrunbook/internal/managed"
	"github.com/pgrunbook/pgrunbook/internal/pg/pgtest"
	"github.com/pgrunbook/pgrunbook/internal/transcript"
)

// fixedObject runs create (a constant of the test naming one of a
// provider's roles or databases) and drop at the end. Those names are
// fixed, and every connection to the cluster recognises the provider while
// they exist: the tests that make them are not parallel (Go runs the
// package's sequential tests before any parallel one resumes).
func fixedObject(t *testing.T, create, drop string) {
	t.Helper()
	ctx := context.Background()
	if _, err := pgtest.Connect(t).Exec(ctx, create); err != nil {
		t.Fatalf("%s: %v", create, err)
	}
	t.Cleanup(func() {
		c, err := pgx.Connect(context.Background(), pgtest.DSN())
		if err != nil {
			t.Errorf("%s: %v", drop, err)
			return
		}
		defer c.Close(context.Background())
		if _, err := c.Exec(context.Background(), drop); err != nil {
			t.Errorf("%s: %v", drop, err)
		}
	})
}

// excludedReason is the reason a selected event of the run gives for
// leaving pid out, or "".
func (r run) excludedReason(pid int) string {
	for _, ev := range r.events {
		for _, x := range ev.Excluded {
			if x.Session.PID == pid {
				return x.Reason
			}
		}
	}
	return ""
}

// sentTo reports whether any intent or action of the run names pid.
func (r run) sentTo(pid int) bool {
	for _, ev := range r.events {
		if ev.Type == transcript.Action && ev.PID == pid {
			return true
		}
		if ev.Type == transcript.Intent && slices.ContainsFunc(ev.Targets, func(id activity.Identity) bool { return id.PID == pid }) {
			return true
		}
	}
	return false
}

// TestManagedRDSSuperuserExcludedServiceRoleProtected stages RDS as its
// master user sees it: rds_superuser is a NOSUPERUSER role holding
// pg_signal_backend and pg_monitor, rdsadmin the real superuser with a
// live query, and a database rdsadmin; besides, Cloud SQL's agent role
// runs a query. Cancelling every long query, the run names the provider,
// shows rdsadmin's session excluded because only AWS can end it and sends
// it nothing, spares the agent under the default protection "provider",
// cancels the application's query and ends done, not failed. Without the
// protection (unprotect: [provider]), the agent's query would be
// cancelled.
func TestManagedRDSSuperuserExcludedServiceRoleProtected(t *testing.T) {
	ctx := context.Background()
	stage := pgtest.Staged[*incident.Session](t)
	db := pgtest.CreateDatabase(t, "managed")
	dsn := pgtest.DSNFor(db)
	suffix := strings.TrimPrefix(db, "managed_")
	master, app := "master_"+suffix, "app_"+suffix
	fixedObject(t, "CREATE ROLE rds_superuser NOLOGIN NOSUPERUSER IN ROLE pg_signal_backend, pg_monitor", "DROP ROLE rds_superuser")
	fixedObject(t, "CREATE ROLE rdsadmin LOGIN SUPERUSER", "DROP ROLE rdsadmin")
	fixedObject(t, "CREATE ROLE cloudsqlagent LOGIN NOSUPERUSER", "DROP ROLE cloudsqlagent")
	fixedObject(t, "CREATE DATABASE rdsadmin", "DROP DATABASE rdsadmin WITH (FORCE)")
	createRole(t, master, "rds_superuser")
	createRole(t, app)
	admin := stage(incident.LongQuery(ctx, asUser(dsn, "rdsadmin"), "rds-monitor", time.Minute))
	agent := stage(incident.LongQuery(ctx, asUser(dsn, "cloudsqlagent"), "agent-export", time.Minute))
	report := stage(incident.LongQuery(ctx, asUser(dsn, app), "app-report", time.Minute))

	r := runPlaybookAs(t, asUser(dsn, master), builtin(t, "cancel-long-queries"), engine.Options{Mode: engine.Yes}, "min_runtime=0s", "database="+db)

	if r.res.ExitCode != engine.ExitOK {
		t.Errorf("exit %d (%s), want 0: a session only the provider can end is no failure of the run", r.res.ExitCode, r.res.Message)
	}
	started := r.events[0]
	if started.Type != transcript.RunStarted || started.Server == nil || started.Server.Provider == nil ||
		started.Server.Provider.ID != "rds" || !started.Server.Provider.IsSuperuserRole("rdsadmin") {
		t.Fatalf("run_started does not record RDS with rdsadmin as its superuser: %+v", started.Server)
	}
	if !slices.ContainsFunc(started.Server.ReservedSlots, func(s managed.ReservedSlots) bool {
		return s.Setting == managed.SuperuserReserved && !s.Usable
	}) {
		t.Errorf("run_started reserved slots %+v: want superuser_reserved_connections, not usable by the master user", started.Server.ReservedSlots)
	}
	if !strings.Contains(r.shown, "provider:   Amazon RDS / Aurora") || !strings.Contains(r.shown, "reserved:   ") {
		t.Errorf("the start-up report does not name the provider and the reserved slots:\n%s", r.shown)
	}

	if reason := r.excludedReason(admin.PID); !strings.Contains(reason, "only AWS can end this session") {
		t.Errorf("rdsadmin's session is excluded with %q, want the provider's reason", reason)
	}
	if r.sentTo(admin.PID) {
		t.Error("a signal was meant for or sent to rdsadmin's session")
	}
	if !strings.Contains(r.shown, "only AWS can end this session") {
		t.Errorf("the operator is not shown why rdsadmin's session is left alone:\n%s", r.shown)
	}
	const agentReason = "protected by default: provider (usename cloudsqlagent, a service role of Google Cloud SQL)"
	if reason := r.excludedReason(agent.PID); reason != agentReason {
		t.Errorf("the agent's session is excluded with %q, want %q", reason, agentReason)
	}
	if r.sentTo(agent.PID) {
		t.Error("a signal was meant for or sent to the agent's session")
	}
	if got := r.actions(string(activity.Cancel)); got[report.PID] != string(activity.Signalled) || len(got) != 1 {
		t.Errorf("cancel actions %v, want only the app's query %d signalled", got, report.PID)
	}
	pgtest.WaitDone(t, report, "app query")
	for _, s := range []*incident.Session{admin, agent} {
		select {
		case <-s.Done():
			t.Errorf("%s's query ended: %v", s.App, s.Err())
		default:
		}
	}

	pb := builtin(t, "cancel-long-queries")
	pb.Unprotect = append(pb.Unprotect, "provider")
	r = runPlaybookAs(t, asUser(dsn, master), pb, engine.Options{Mode: engine.DryRun}, "min_runtime=0s", "database="+db)
	if got := r.actions(string(activity.Cancel)); got[agent.PID] != string(activity.DryRun) || got[admin.PID] != "" {
		t.Errorf("with unprotect: [provider] the dry run would cancel %v: want the agent %d, never rdsadmin %d", got, agent.PID, admin.PID)
	}
}
