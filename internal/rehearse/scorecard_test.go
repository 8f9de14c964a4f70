package rehearse

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/pgrunbook/pgrunbook/engine"
	"github.com/pgrunbook/pgrunbook/internal/activity"
	"github.com/pgrunbook/pgrunbook/internal/pg/incident"
	"github.com/pgrunbook/pgrunbook/internal/transcript"
)

func TestScenariosAreComplete(t *testing.T) {
	seen := map[string]bool{}
	for _, sc := range Scenarios() {
		if sc.Name == "" || sc.Summary == "" || seen[sc.Name] {
			t.Errorf("scenario %+v: empty or duplicate name or summary", sc)
		}
		seen[sc.Name] = true
		pbs, err := sc.RecommendedPlaybooks()
		if err != nil || len(pbs) == 0 {
			t.Errorf("%s: recommended playbooks %v: %v", sc.Name, sc.Playbooks, err)
		}
		roles := map[Role]int{}
		for _, k := range sc.Cast {
			roles[k.Role()]++
		}
		if roles[Culprit] == 0 || roles[Bystander] == 0 {
			t.Errorf("%s: cast %v needs a culprit and a bystander", sc.Name, sc.Cast)
		}
		if sc.has(IdleInTransaction) && roles[Victim] < 2 {
			t.Errorf("%s: the lock chain must be at least two deep: %v", sc.Name, sc.Cast)
		}
		if got, ok := Lookup(sc.Name); !ok || got.Name != sc.Name {
			t.Errorf("Lookup(%q) = %+v, %v", sc.Name, got, ok)
		}
	}
	want := []string{"long-query", "stubborn-query", "idle-in-transaction", "client-not-reading", "mixed"}
	if !slices.Equal(Names(), want) {
		t.Errorf("Names() = %v, want %v", Names(), want)
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
}

func TestParamsFitTheStagedIncident(t *testing.T) {
	for name, want := range map[string][]string{
		"cancel-long-queries":           {"min_runtime=2s", "database=rehearsal"},
		"terminate-idle-in-transaction": {"min_idle=2s", "database=rehearsal"},
		"unblock-lock-chain":            {"min_wait=2s", "database=rehearsal"},
	} {
		sc := Scenario{Name: "x", Playbooks: []string{name}}
		pbs, err := sc.RecommendedPlaybooks()
		if err != nil {
			t.Fatal(err)
		}
		if got := Params(pbs[0], 2*time.Second); !slices.Equal(got, want) {
			t.Errorf("Params(%s) = %v, want %v", name, got, want)
		}
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
	report := &staged{kind: LongQuery, app: "reporting", pid: 101, backendStart: start}
	backup := &staged{kind: Backup, app: "pg_dump", pid: 102, backendStart: start}
	idle := &staged{kind: IdleBystander, app: "bystander", pid: 103, backendStart: start}
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
		if c.ExitCode() != 0 || !strings.HasPrefix(c.Verdict(), "not resolved (dry-run)") || c.Resolved() || c.Mitigated {
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
		if c.ExitCode() != 1 || c.Verdict() == "not resolved (dry-run): nothing was signalled and the culprits are still there" {
			t.Errorf("verdict %q, exit %d\n%s", c.Verdict(), c.ExitCode(), c)
		}
	})
}
