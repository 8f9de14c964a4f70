package engine_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/pgrunbook/pgrunbook/engine"
	"github.com/pgrunbook/pgrunbook/internal/activity"
	"github.com/pgrunbook/pgrunbook/internal/incident"
	"github.com/pgrunbook/pgrunbook/internal/pg/pgtest"
	"github.com/pgrunbook/pgrunbook/internal/playbook"
	"github.com/pgrunbook/pgrunbook/internal/transcript"
)

// createRole creates a login role with the given memberships and drops it
// at the end of the test. The harness cluster trusts local connections.
func createRole(t *testing.T, name string, memberOf ...string) {
	t.Helper()
	ctx := context.Background()
	conn := pgtest.Connect(t)
	ident := pgx.Identifier{name}.Sanitize()
	if _, err := conn.Exec(ctx, "CREATE ROLE "+ident+" LOGIN"); err != nil {
		t.Fatal(err)
	}
	for _, m := range memberOf {
		if _, err := conn.Exec(ctx, "GRANT "+pgx.Identifier{m}.Sanitize()+" TO "+ident); err != nil {
			t.Fatal(err)
		}
	}
	t.Cleanup(func() {
		c, err := pgx.Connect(context.Background(), pgtest.DSN())
		if err != nil {
			return
		}
		defer c.Close(context.Background())
		_, _ = c.Exec(context.Background(), "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = $1", name)
		_, _ = c.Exec(context.Background(), "DROP OWNED BY "+ident)
		_, _ = c.Exec(context.Background(), "DROP ROLE "+ident)
	})
}

func asUser(dsn, user string) string { return dsn + " user=" + user }

func TestSuperuserSessionIsDeniedOthersCancelled(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	stage := pgtest.Staged[*incident.Session](t)
	db := pgtest.CreateDatabase(t, "denied")
	dsn := pgtest.DSNFor(db)
	suffix := strings.TrimPrefix(db, "denied_")
	ops, app := "ops_"+suffix, "app_"+suffix
	createRole(t, ops, "pg_signal_backend", "pg_read_all_stats")
	createRole(t, app)
	super := stage(incident.LongQuery(ctx, dsn, "admin-report", time.Minute))
	apps := []*incident.Session{
		stage(incident.LongQuery(ctx, asUser(dsn, app), "app-report", time.Minute)),
		stage(incident.LongQuery(ctx, asUser(dsn, app), "app-report", time.Minute)),
	}

	r := runPlaybookAs(t, asUser(dsn, ops), builtin(t, "cancel-long-queries"), engine.Options{Mode: engine.Yes}, "min_runtime=0s", "database="+db)

	if r.res.ExitCode != engine.ExitFailed {
		t.Fatalf("exit %d (%s), want 1: a denied signal fails the run", r.res.ExitCode, r.res.Message)
	}
	cancels := r.actions(string(activity.Cancel))
	if cancels[super.PID] != string(activity.Denied) {
		t.Errorf("cancel of the superuser's query: %q, want denied", cancels[super.PID])
	}
	for _, a := range apps {
		if cancels[a.PID] != string(activity.Signalled) {
			t.Errorf("cancel of the app role's query %d: %q, want signalled", a.PID, cancels[a.PID])
		}
		pgtest.WaitDone(t, a, "app query")
	}
	for _, ev := range r.events {
		if ev.Type == transcript.Action && ev.PID == super.PID && ev.Message == "" {
			t.Error("the denied action has no message saying why")
		}
	}
	select {
	case <-super.Done():
		t.Errorf("the superuser's query ended: %v", super.Err())
	default:
	}
}

func TestWithoutReadAllStatsOthersAreHiddenAndSpared(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	stage := pgtest.Staged[*incident.Session](t)
	db := pgtest.CreateDatabase(t, "hidden")
	dsn := pgtest.DSNFor(db)
	viewer := "viewer_" + strings.TrimPrefix(db, "hidden_")
	createRole(t, viewer)
	others := []*incident.Session{
		stage(incident.LongQuery(ctx, dsn, "report", time.Minute)),
		stage(incident.Idle(ctx, dsn, "bystander")),
	}

	r := runPlaybookAs(t, asUser(dsn, viewer), builtin(t, "cancel-long-queries"), engine.Options{Mode: engine.Yes}, "min_runtime=0s", "database="+db)

	if r.res.ExitCode != engine.ExitOK {
		t.Fatalf("exit %d (%s)", r.res.ExitCode, r.res.Message)
	}
	if got := r.signalled(); len(got) != 0 {
		t.Errorf("signalled %v, want nothing: other roles' identities are hidden", got)
	}
	var hidden int
	for _, ev := range r.events {
		if ev.Type == transcript.Snapshot {
			for _, row := range ev.Rows {
				if row.Datname == db && row.Hidden() {
					hidden++
				}
			}
			break
		}
	}
	if hidden < len(others) {
		t.Errorf("first snapshot shows %d hidden rows of %s, want at least %d", hidden, db, len(others))
	}
	if !strings.Contains(r.shown, "hidden") || !strings.Contains(r.shown, "never signalled") {
		t.Errorf("the operator is not told that sessions are hidden and why:\n%s", r.shown)
	}
	select {
	case <-others[0].Done():
		t.Errorf("the hidden long query ended: %v", others[0].Err())
	default:
	}
}

// statementSession is a session whose statements the test starts itself,
// to change what it runs between the snapshot and the signal.
type statementSession struct {
	conn *pgx.Conn
	pid  int
	// done is closed when the running statement ends; err is its error.
	done chan struct{}
	err  error
}

func openStatementSession(t *testing.T, dsn string) *statementSession {
	t.Helper()
	conn, err := pgx.Connect(context.Background(), dsn+" application_name=racer")
	if err != nil {
		t.Fatal(err)
	}
	s := &statementSession{conn: conn, pid: int(conn.PgConn().PID())}
	t.Cleanup(func() {
		// End a running statement first: a pgx connection is not safe
		// for concurrent use, so Close must not race the Exec.
		if s.done != nil {
			if admin, err := pgx.Connect(context.Background(), pgtest.DSN()); err == nil {
				_, _ = admin.Exec(context.Background(), "SELECT pg_terminate_backend($1)", s.pid)
				admin.Close(context.Background())
			}
			<-s.done
		}
		conn.Close(context.Background())
	})
	return s
}

// start runs a long statement in the background and waits until the
// server shows it running; it returns the statement's query_start.
func (s *statementSession) start(t *testing.T) time.Time {
	t.Helper()
	done := make(chan struct{})
	s.done = done
	go func() {
		_, err := s.conn.Exec(context.Background(), "SELECT pg_sleep(60)")
		s.err = err
		close(done)
	}()
	admin := pgtest.Connect(t)
	deadline := time.Now().Add(20 * time.Second)
	for {
		var qs time.Time
		var state string
		err := admin.QueryRow(context.Background(),
			"SELECT coalesce(state, ''), coalesce(query_start, 'epoch') FROM pg_stat_activity WHERE pid = $1", s.pid).Scan(&state, &qs)
		if err == nil && state == "active" {
			return qs
		}
		if time.Now().After(deadline) {
			t.Fatalf("statement of pid %d not running: state %q err %v", s.pid, state, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// restart ends the running statement (from another connection) and starts
// a new one in the same session.
func (s *statementSession) restart(t *testing.T) time.Time {
	t.Helper()
	if _, err := pgtest.Connect(t).Exec(context.Background(), "SELECT pg_cancel_backend($1)", s.pid); err != nil {
		t.Fatal(err)
	}
	<-s.done
	return s.start(t)
}

func TestIdentityRaceNewStatementIsChanged(t *testing.T) {
	t.Parallel()
	db := pgtest.CreateDatabase(t, "race")
	s := openStatementSession(t, pgtest.DSNFor(db))
	first := s.start(t)
	var second time.Time
	operator := &scriptedPrompter{t: t, answers: []func(engine.Question) engine.Answer{
		func(q engine.Question) engine.Answer {
			// Between the table and the answer, the statement finishes
			// and the session starts another one.
			second = s.restart(t)
			return engine.Answer{Choice: engine.ChooseAll}
		},
	}}

	r := runPlaybookWith(t, builtin(t, "cancel-long-queries"), engine.Options{Mode: engine.Interactive, Prompter: operator},
		"min_runtime=0s", "database="+db)

	if second.Equal(first) {
		t.Fatal("the second statement has the first one's query_start")
	}
	if got := r.actions(string(activity.Cancel))[s.pid]; got != string(activity.Changed) {
		t.Fatalf("cancel after the statement changed: %q, want changed", got)
	}
	select {
	case <-s.done:
		t.Errorf("the new statement was cancelled: %v", s.err)
	default:
	}
	for _, ev := range r.events {
		if ev.Type == transcript.Intent && len(ev.Targets) == 1 && !ev.Targets[0].QueryStart.Equal(first) {
			t.Errorf("intent recorded query_start %v, want the approved %v", ev.Targets[0].QueryStart, first)
		}
	}
}

func TestStaleAnswerRefreshesAndAsksAgain(t *testing.T) {
	t.Parallel()
	db := pgtest.CreateDatabase(t, "stale")
	s := openStatementSession(t, pgtest.DSNFor(db))
	s.start(t)
	operator := &scriptedPrompter{t: t, answers: []func(engine.Question) engine.Answer{
		func(q engine.Question) engine.Answer {
			s.restart(t)
			return engine.Answer{Choice: engine.ChooseAll}
		},
		func(q engine.Question) engine.Answer { return engine.Answer{Choice: engine.ChooseAll} },
	}}

	r := runPlaybookWith(t, builtin(t, "cancel-long-queries"),
		engine.Options{Mode: engine.Interactive, Prompter: operator, StaleAfter: time.Nanosecond},
		"min_runtime=0s", "database="+db)

	if len(operator.asked) != 2 {
		t.Fatalf("asked %d times, want 2 (the stale answer is asked again)", len(operator.asked))
	}
	if !strings.Contains(r.shown, "runs another statement now") {
		t.Errorf("the operator is not shown what changed:\n%s", r.shown)
	}
	if got := r.actions(string(activity.Cancel))[s.pid]; got != string(activity.Signalled) {
		t.Errorf("cancel after the fresh confirmation: %q, want signalled", got)
	}
	select {
	case <-s.done:
	case <-time.After(20 * time.Second):
		t.Error("the statement confirmed on the fresh table is still running")
	}
}

func TestBackgroundProcessesAreNeverTargets(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	stage := pgtest.Staged[*incident.Session](t)
	db := pgtest.CreateDatabase(t, "everything")
	dsn := pgtest.DSNFor(db)
	bystander := stage(incident.Idle(ctx, dsn, "bystander"))

	// A walsender: a replication connection to the test's database, which
	// the server serves with a walsender process that the filter below
	// matches by its backend_type. Of the client backends the filter
	// matches only the bystander: the staging helpers' own connections to
	// the database may still be exiting when the snapshot is read. A Go
	// connection rather than pg_receivewal, which refuses servers of a
	// newer major than its own. A parallel worker is left out: it is
	// reached through its leader, by design, and a leader here would be
	// the session of another test running a parallel query.
	replCfg, err := pgconn.ParseConfig(dsn)
	if err != nil {
		t.Fatal(err)
	}
	replCfg.RuntimeParams["replication"] = "database"
	repl, err := pgconn.ConnectConfig(ctx, replCfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = repl.Close(context.Background()) })
	if _, err := repl.Exec(ctx, "IDENTIFY_SYSTEM").ReadAll(); err != nil {
		t.Fatalf("IDENTIFY_SYSTEM on the replication connection: %v", err)
	}
	walsender := waitForBackendType(t, "walsender")

	pb, err := playbook.Parse("everything.yaml", []byte(fmt.Sprintf(`name: everything
steps:
  - id: snap
    activity:
  - id: matched
    filter:
      where: (datname == %q && application_name == "bystander") || (backend_type != "client backend" && backend_type != "parallel worker")
  - terminate:
      targets: matched
      max_targets: 1000
`, db)))
	if err != nil {
		t.Fatal(err)
	}
	before := backgroundPIDs(t)

	r := runPlaybook(t, pb, engine.Yes, nil)

	if got := r.actions(string(activity.Terminate)); len(got) != 1 || got[bystander.PID] != string(activity.Signalled) {
		t.Errorf("terminated %v, want only the client bystander %d", got, bystander.PID)
	}
	excluded := map[string]bool{}
	for _, ev := range r.events {
		for _, x := range ev.Excluded {
			excluded[x.Session.BackendType] = true
		}
	}
	for _, typ := range []string{"walsender", "autovacuum launcher", "checkpointer", "logical replication launcher"} {
		if !excluded[typ] {
			t.Errorf("no %s among the excluded sessions: %v", typ, excluded)
		}
	}
	after := backgroundPIDs(t)
	for typ, pid := range before {
		if after[typ] != pid {
			t.Errorf("%s changed from pid %d to %d", typ, pid, after[typ])
		}
	}
	if after["walsender"] != walsender {
		t.Errorf("the walsender %d is gone", walsender)
	}
	if _, err := repl.Exec(ctx, "IDENTIFY_SYSTEM").ReadAll(); err != nil {
		t.Errorf("the replication connection no longer works: %v", err)
	}
}

// waitForBackendType waits until a backend of the type exists; its pid.
func waitForBackendType(t *testing.T, typ string) int {
	t.Helper()
	conn := pgtest.Connect(t)
	deadline := time.Now().Add(20 * time.Second)
	for {
		var pid int
		err := conn.QueryRow(context.Background(), "SELECT pid FROM pg_stat_activity WHERE backend_type = $1 LIMIT 1", typ).Scan(&pid)
		if err == nil {
			return pid
		}
		if time.Now().After(deadline) {
			t.Fatalf("no %s appeared: %v", typ, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// backgroundPIDs maps each background backend type to its (lowest) pid.
func backgroundPIDs(t *testing.T) map[string]int {
	t.Helper()
	rows, err := pgtest.Connect(t).Query(context.Background(),
		// Autovacuum and parallel workers come and go by themselves (other
		// tests on the cluster run parallel queries); the server's own
		// long-lived processes are what must survive.
		"SELECT backend_type, min(pid) FROM pg_stat_activity WHERE backend_type NOT IN ('client backend', 'autovacuum worker', 'parallel worker') GROUP BY 1")
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]int{}
	var typ string
	var pid int
	if _, err := pgx.ForEachRow(rows, []any{&typ, &pid}, func() error { out[typ] = pid; return nil }); err != nil {
		t.Fatal(err)
	}
	if !slices.Contains([]int{len(out)}, 0) && len(out) < 4 {
		t.Fatalf("only %d background processes: %v", len(out), out)
	}
	return out
}
