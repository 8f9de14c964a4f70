package rehearse

import (
	"context"
	"errors"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/pgrunbook/pgrunbook/engine"
	"github.com/pgrunbook/pgrunbook/internal/activity"
	"github.com/pgrunbook/pgrunbook/internal/incident"
	"github.com/pgrunbook/pgrunbook/internal/transcript"
	"github.com/pgrunbook/pgrunbook/playbooks"
)

func TestScenariosAreComplete(t *testing.T) {
	seen := map[string]bool{}
	for _, sc := range Scenarios() {
		if sc.Name == "" || sc.Summary == "" || seen[sc.Name] {
			t.Errorf("scenario %+v: empty or duplicate name or summary", sc)
		}
		seen[sc.Name] = true
		// A recommended playbook is built in, or has a reference under
		// testdata until the shipped one lands (see playbookFor).
		for _, name := range sc.Playbooks {
			if _, builtin := playbooks.Source(name); builtin {
				continue
			}
			if _, err := os.Stat(referencePath(name)); err != nil {
				t.Errorf("%s recommends %s, which is neither built in nor in testdata/reference: %v", sc.Name, name, err)
			} else {
				t.Logf("%s: playbook %s is not built in yet; the tests use testdata/reference/%s.yaml", sc.Name, name, name)
			}
		}
		roles := map[Role]int{}
		for _, k := range sc.Cast {
			roles[k.Role()]++
			if _, ok := kinds[k]; !ok {
				t.Errorf("%s: kind %d has no description", sc.Name, k)
			}
		}
		if roles[Culprit] == 0 || roles[Bystander] == 0 {
			t.Errorf("%s: cast %v needs a culprit and a bystander", sc.Name, sc.Cast)
		}
		if sc.has(IdleInTransaction) && roles[Victim] < 2 {
			t.Errorf("%s: the lock chain must be at least two deep: %v", sc.Name, sc.Cast)
		}
		if sc.has(QueuedDDL) && (!sc.has(Backup) || len(slices.DeleteFunc(slices.Clone(sc.Cast), func(k Kind) bool { return k != QueuedReader })) != 4) {
			t.Errorf("%s: the ALTER must queue behind the backup, with four reads behind it: %v", sc.Name, sc.Cast)
		}
		if got, ok := Lookup(sc.Name); !ok || got.Name != sc.Name {
			t.Errorf("Lookup(%q) = %+v, %v", sc.Name, got, ok)
		}
	}
	want := []string{"long-query", "stubborn-query", "idle-in-transaction", "client-not-reading", "ddl-lock-queue",
		"connection-exhaustion", "xmin-horizon", "query-storm", "dead-clients", "cpu-hog", "mixed"}
	if !slices.Equal(Names(), want) {
		t.Errorf("Names() = %v, want %v", Names(), want)
	}
	recommends := map[string]string{
		"ddl-lock-queue": "release-ddl-lock-queue", "connection-exhaustion": "shed-connections",
		"xmin-horizon": "release-xmin-horizon", "query-storm": "cancel-query-storm", "dead-clients": "reap-dead-clients",
		"cpu-hog": "stop-resource-hogs", "client-not-reading": "unstick-client-write",
	}
	for name, pb := range recommends {
		if sc, _ := Lookup(name); !slices.Equal(sc.Playbooks, []string{pb}) {
			t.Errorf("%s recommends %v, want %s", name, sc.Playbooks, pb)
		}
	}
	mixed, _ := Lookup("mixed")
	for _, k := range []Kind{LongQuery, StubbornQuery, IdleInTransaction, ClientNotReading, QueuedWriter} {
		if !mixed.has(k) {
			t.Errorf("mixed does not stage kind %d", k)
		}
	}
	if _, ok := Lookup("nope"); ok {
		t.Error("Lookup found a scenario that does not exist")
	}
	for _, u := range NotStaged() {
		if _, ok := Lookup(u.Name); ok || u.Reason == "" || u.Playbook == "" {
			t.Errorf("not staged %+v: a scenario of that name exists, or it lacks a reason or playbook", u)
		}
	}
}

func TestParamsFitTheStagedIncident(t *testing.T) {
	plain := Scenario{Name: "x"}
	for name, want := range map[string][]string{
		"cancel-long-queries":           {"min_runtime=2s", "database=rehearsal"},
		"terminate-idle-in-transaction": {"min_idle=2s", "database=rehearsal"},
		"unblock-lock-chain":            {"min_wait=2s", "database=rehearsal"},
	} {
		if got := plain.Params(builtinPlaybook(t, name), 2*time.Second); !slices.Equal(got, want) {
			t.Errorf("Params(%s) = %v, want %v", name, got, want)
		}
	}
	// A scenario's own settings reach the playbooks that have the
	// parameter, and replace a setting of the same name.
	dead, _ := Lookup("dead-clients")
	reap := loadPlaybook(t, referencePath("reap-dead-clients"))
	if got, want := dead.Params(reap, time.Second), []string{"min_idle=1s", "database=rehearsal", "networks=127.0.0.2/32"}; !slices.Equal(got, want) {
		t.Errorf("dead-clients Params(reap-dead-clients) = %v, want %v", got, want)
	}
	if got, want := dead.Params(builtinPlaybook(t, "cancel-long-queries"), time.Second), []string{"min_runtime=1s", "database=rehearsal"}; !slices.Equal(got, want) {
		t.Errorf("dead-clients Params(cancel-long-queries) = %v, want %v", got, want)
	}
	over := Scenario{Name: "x", Sets: []string{"min_runtime=9s"}}
	if got, want := over.Params(builtinPlaybook(t, "cancel-long-queries"), time.Second), []string{"database=rehearsal", "min_runtime=9s"}; !slices.Equal(got, want) {
		t.Errorf("a scenario's min_runtime: Params = %v, want %v", got, want)
	}
	if _, err := reap.Resolve(dead.Params(reap, time.Second)); err != nil {
		t.Errorf("the reference reap-dead-clients does not resolve with the scenario's settings: %v", err)
	}
}

func TestServerSettings(t *testing.T) {
	exhaust, _ := Lookup("connection-exhaustion")
	got := exhaust.serverSettings(2)
	if got["max_connections"] != "20" || got["superuser_reserved_connections"] != "3" || len(got) != 2 {
		t.Errorf("connection-exhaustion with 2 clients: %v, want max_connections 20 (2 pgbench + 3 billing + 12 webapp + 3 reserved)", got)
	}
	if got := exhaust.serverSettings(8)["max_connections"]; got != "26" {
		t.Errorf("with 8 clients max_connections = %s, want 26", got)
	}
	long, _ := Lookup("long-query")
	if got := long.serverSettings(8); got != nil {
		t.Errorf("long-query needs no server settings, got %v", got)
	}
	if got := settingsText(map[string]string{"b": "2", "a": "1"}); got != "a=1 b=2" {
		t.Errorf("settingsText = %q", got)
	}
}

func TestPlanRejectsBadUsage(t *testing.T) {
	sc, _ := Lookup("mixed")
	base := Options{Scenario: sc, Out: &strings.Builder{}, RunPlaybook: func(context.Context, PlaybookRun) (PlaybookResult, error) {
		return PlaybookResult{}, errors.New("not called")
	}}
	for name, mod := range map[string]func(*Options){
		"unknown parameter": func(o *Options) { o.Sets = []string{"nope=1"} },
		"bad value":         func(o *Options) { o.Sets = []string{"min_runtime=soon"} },
		"too many clients":  func(o *Options) { o.Clients = MaxClients + 1 },
		"negative clients":  func(o *Options) { o.Clients = -1 },
		"no scenario":       func(o *Options) { o.Scenario = Scenario{} },
	} {
		o := base
		mod(&o)
		_, err := o.plan()
		var cfg *ConfigError
		if !errors.As(err, &cfg) {
			t.Errorf("%s: plan() = %v, want a *ConfigError", name, err)
		}
	}

	// A setting reaches only the playbooks that have the parameter.
	o := base
	o.Sets = []string{"min_runtime=3s", "min_wait=4s"}
	runs, err := o.plan()
	if err != nil {
		t.Fatal(err)
	}
	if len(runs) != 2 || runs[0].vals["min_wait"] != 4*time.Second || runs[1].vals["min_runtime"] != 3*time.Second ||
		runs[1].vals["database"] != Database {
		t.Errorf("plan: %+v", runs)
	}
	if o.Mode != engine.Yes || o.MinAge != DefaultMinAge {
		t.Errorf("defaults: mode %q, min age %s", o.Mode, o.MinAge)
	}
}

func TestTimeToMitigate(t *testing.T) {
	t0 := time.Date(2026, 11, 25, 3, 0, 0, 0, time.UTC)
	rec := newRecord()
	rec.add(1, []transcript.Event{
		{Type: transcript.Snapshot, Time: t0.Add(time.Second)},
		{Type: transcript.Action, Time: t0.Add(2 * time.Second), PID: 7, Function: activity.Cancel, Outcome: "signalled"},
		{Type: transcript.Verified, Time: t0.Add(3 * time.Second), Failed: []int{7}},
	})
	if _, ok := rec.timeToMitigate(); ok {
		t.Error("a failed verify counted as mitigation")
	}
	rec.add(2, []transcript.Event{
		{Type: transcript.Snapshot, Time: t0.Add(4 * time.Second)},
		{Type: transcript.Action, Time: t0.Add(5 * time.Second), PID: 7, Function: activity.Terminate, Outcome: "signalled"},
		{Type: transcript.Verified, Time: t0.Add(6 * time.Second), Passed: []int{7}},
		{Type: transcript.Verified, Time: t0.Add(7 * time.Second), Text: "nothing to verify"},
	})
	d, ok := rec.timeToMitigate()
	if !ok || d != 5*time.Second {
		t.Errorf("time to mitigate = %s, %v; want 5s (first snapshot to the last verify that passed a target)", d, ok)
	}
	if !rec.sent(7, activity.Cancel) || !rec.sent(7, activity.Terminate) || !rec.verifyFailed[7] || rec.signalled(8) {
		t.Errorf("record %+v", rec)
	}
	if got := rec.actions[7][1].run; got != 2 {
		t.Errorf("second action recorded for run %d, want 2", got)
	}
}

// scene builds an observation of a long-query rehearsal with pgbench,
// in which every session is as a good run leaves it; tests then spoil it.
func scene(mode engine.Mode) *observation {
	start := time.Date(2026, 11, 25, 3, 0, 0, 0, time.UTC)
	report := &staged{kind: LongQuery, name: "reporting", app: "reporting", pid: 101, backendStart: start}
	backup := &staged{kind: Backup, name: "pg_dump", app: "pg_dump", pid: 102, backendStart: start}
	idle := &staged{kind: IdleBystander, name: "bystander", app: "bystander", pid: 103, backendStart: start}
	live := func(s *staged, state string) *incident.Backend {
		return &incident.Backend{PID: s.pid, BackendStart: s.backendStart, State: state}
	}
	bench := []incident.Backend{{PID: 201, BackendStart: start}, {PID: 202, BackendStart: start}}
	o := &observation{
		scenario: "long-query", mode: mode,
		cast: &incidentCast{sessions: []*staged{report, backup, idle}},
		facts: map[*staged]sessionFacts{
			report: {finished: true, err: &pgconn.PgError{Code: "57014"}, alive: true, live: live(report, "idle")},
			backup: {alive: true, live: live(backup, "active")},
			idle:   {alive: true, live: live(idle, "idle")},
		},
		load:         &load{before: bench},
		benchAfter:   bench,
		benchSummary: incident.PgbenchSummary{Clients: 2, Processed: 100},
		playbooks:    []playbookOutcome{{name: "cancel-long-queries", ran: true, result: engine.Result{Outcome: "done"}}},
		rec:          newRecord(),
	}
	outcome := "signalled"
	if mode == engine.DryRun {
		outcome = "dry_run"
		o.facts[report] = sessionFacts{alive: true, live: live(report, "active")}
	}
	o.rec.add(1, []transcript.Event{
		{Type: transcript.Snapshot, Time: start.Add(time.Second)},
		{Type: transcript.Action, PID: 101, Function: activity.Cancel, Outcome: outcome},
		{Type: transcript.Verified, Time: start.Add(2 * time.Second), Passed: []int{101}},
	})
	return o
}

func TestEvaluate(t *testing.T) {
	t.Run("resolved", func(t *testing.T) {
		c := evaluate(scene(engine.Yes))
		if c.Verdict() != "RESOLVED with zero collateral damage" || c.ExitCode() != 0 || !c.Mitigated || c.TimeToMitigate != time.Second {
			t.Errorf("verdict %q, exit %d, mitigated %v in %s\n%s", c.Verdict(), c.ExitCode(), c.Mitigated, c.TimeToMitigate, c)
		}
	})
	t.Run("terminated everything active", func(t *testing.T) {
		o := scene(engine.Yes)
		report, backup := o.cast.sessions[0], o.cast.sessions[1]
		killed := sessionFacts{finished: true, err: &pgconn.PgError{Code: "57P01"}}
		o.facts[report], o.facts[backup] = killed, killed
		o.rec = newRecord()
		o.rec.add(1, []transcript.Event{
			{Type: transcript.Action, PID: 101, Function: activity.Terminate, Outcome: "signalled"},
			{Type: transcript.Action, PID: 102, Function: activity.Terminate, Outcome: "signalled"},
			{Type: transcript.Action, PID: 202, Function: activity.Terminate, Outcome: "signalled"},
		})
		o.benchAfter = o.benchAfter[:1]
		o.benchSummary.Aborted = 1
		c := evaluate(o)
		if !c.CollateralDamage() || c.ExitCode() != 1 || !strings.Contains(c.Verdict(), "COLLATERAL DAMAGE") {
			t.Errorf("verdict %q, exit %d\n%s", c.Verdict(), c.ExitCode(), c)
		}
		text := c.String()
		for _, want := range []string{"where a cancel would have kept it", "pg_dump: pid 102", "→ gone", "NOT CULPRITS", "1 of 2 clients aborted", "pid 202 started"} {
			if !strings.Contains(text, want) {
				t.Errorf("scorecard lacks %q:\n%s", want, text)
			}
		}
	})
	t.Run("culprit left running", func(t *testing.T) {
		o := scene(engine.Yes)
		report := o.cast.sessions[0]
		o.facts[report] = sessionFacts{alive: true, live: &incident.Backend{PID: 101, BackendStart: report.backendStart, State: "active"}}
		o.playbooks[0].result = engine.Result{Outcome: "failed", ExitCode: 1, Message: "1 session(s) failed their last verify"}
		c := evaluate(o)
		if c.Resolved() || c.CollateralDamage() || c.ExitCode() != 1 || c.Verdict() != "NOT RESOLVED (no collateral damage)" || c.Mitigated {
			t.Errorf("verdict %q, exit %d\n%s", c.Verdict(), c.ExitCode(), c)
		}
	})
	t.Run("aborted", func(t *testing.T) {
		o := scene(engine.Interactive)
		o.playbooks[0].result = engine.Result{Outcome: "aborted", ExitCode: engine.ExitAborted}
		c := evaluate(o)
		if c.ExitCode() != engine.ExitAborted || !strings.HasPrefix(c.Verdict(), "NOT RESOLVED: aborted") {
			t.Errorf("verdict %q, exit %d", c.Verdict(), c.ExitCode())
		}
	})
	t.Run("dry run", func(t *testing.T) {
		c := evaluate(scene(engine.DryRun))
		if c.ExitCode() != 0 || !strings.HasPrefix(c.Verdict(), "DRY RUN, nothing was signalled: ") || c.Resolved() || c.Mitigated {
			t.Errorf("verdict %q, exit %d\n%s", c.Verdict(), c.ExitCode(), c)
		}
		if !strings.Contains(c.String(), "Time to mitigate: none (dry-run)") {
			t.Errorf("dry-run scorecard:\n%s", c)
		}
	})
	t.Run("dry run that signalled", func(t *testing.T) {
		o := scene(engine.DryRun)
		o.rec.add(1, []transcript.Event{{Type: transcript.Action, PID: 103, Function: activity.Terminate, Outcome: "signalled"}})
		c := evaluate(o)
		if c.ExitCode() != 1 || strings.HasPrefix(c.Verdict(), "DRY RUN, nothing was signalled: ") {
			t.Errorf("verdict %q, exit %d\n%s", c.Verdict(), c.ExitCode(), c)
		}
	})
}
