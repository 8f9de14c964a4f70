package replay

import (
	"bytes"
	"context"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/pgrunbook/pgrunbook/engine"
	"github.com/pgrunbook/pgrunbook/internal/activity"
	"github.com/pgrunbook/pgrunbook/internal/fixture"
	"github.com/pgrunbook/pgrunbook/internal/playbook"
	"github.com/pgrunbook/pgrunbook/internal/transcript"
	"github.com/pgrunbook/pgrunbook/playbooks"
)

const incidentFixture = `sessions:
  - {pid: 11, usename: app, application_name: report, state: active, query_start: -20m, query: "SELECT a"}
  - {pid: 12, usename: app, application_name: etl, state: active, query_start: -9m, query: "SELECT b", on_cancel: ignore}
  - {pid: 13, usename: app, application_name: web, state: active, query_start: -6m, query: "SELECT c"}
  - {pid: 14, usename: app, application_name: web, state: active, query_start: -2m, query: "SELECT d"}
  - {pid: 15, usename: backup, application_name: pg_dump, state: active, query_start: -1h, query: "COPY t TO stdout"}
`

func shipped(t *testing.T, name string) *playbook.Playbook {
	t.Helper()
	src, _ := playbooks.Source(name)
	return parse(t, "builtin:"+name, string(src))
}

func parse(t *testing.T, name, src string) *playbook.Playbook {
	t.Helper()
	pb, err := playbook.Parse(name, []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	return pb
}

// record runs pb on the fixture offline and returns its transcript, as a
// stand-in for a recorded incident.
func record(t *testing.T, pb *playbook.Playbook, mode engine.Mode, prompter engine.Prompter, sets ...string) []transcript.Event {
	t.Helper()
	fx, err := fixture.Parse("incident", []byte(incidentFixture))
	if err != nil {
		t.Fatal(err)
	}
	vals, err := pb.Resolve(sets)
	if err != nil {
		t.Fatal(err)
	}
	run, err := fixture.RunOffline(context.Background(), fixture.RunOptions{Playbook: pb, Params: vals, Source: fx.NewSource(), Mode: mode, Prompter: prompter})
	if err != nil {
		t.Fatal(err)
	}
	return run.Events
}

func against(t *testing.T, events []transcript.Event, pb *playbook.Playbook, opts Options) *Comparison {
	t.Helper()
	c, err := Against(context.Background(), events, pb, opts)
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	c.Write(&out, "incident.jsonl")
	t.Log("\n" + out.String())
	return c
}

func TestSamePlaybookNoDifference(t *testing.T) {
	for _, mode := range []engine.Mode{engine.Yes, engine.DryRun} {
		pb := shipped(t, "cancel-long-queries")
		events := record(t, pb, mode, nil, "min_runtime=5m")
		if c := against(t, events, pb, Options{}); !c.Identical() {
			t.Errorf("%s: differences %+v", mode, c.Differences)
		}
	}
}

func TestChangedThresholdListsTheSessionsThatFlip(t *testing.T) {
	pb := shipped(t, "cancel-long-queries")
	events := record(t, pb, engine.Yes, nil, "min_runtime=5m")
	src := string(pb.Source)

	// A higher threshold in the filter spares 13 (6m).
	higher := parse(t, "higher.yaml", strings.Replace(src, "query_runtime >= params.min_runtime", `query_runtime >= params.min_runtime + duration("2m")`, 1))
	c := against(t, events, higher, Options{})
	if !slices.Equal(PIDs(c.Spared), []int{13}) || len(c.Targeted) != 0 {
		t.Errorf("spared %v targeted %v, want spared [13]", c.Spared, c.Targeted)
	}
	for _, d := range c.Differences {
		if !strings.Contains(d.Text, "pid 13") && !strings.Contains(d.Text, "question") && !strings.Contains(d.Text, "answer") {
			t.Errorf("a difference about something else than pid 13: %+v", d)
		}
	}

	// A lower one targets 14 (2m) too.
	lower := parse(t, "lower.yaml", strings.Replace(src, "query_runtime >= params.min_runtime", `query_runtime >= params.min_runtime - duration("4m")`, 1))
	c = against(t, events, lower, Options{})
	if !slices.Equal(PIDs(c.Targeted), []int{14}) || len(c.Spared) != 0 {
		t.Errorf("targeted %v spared %v, want targeted [14]", c.Targeted, c.Spared)
	}

	// The same change made with --set instead of an edit.
	c = against(t, events, pb, Options{Sets: []string{"min_runtime=7m"}})
	if !slices.Equal(PIDs(c.Spared), []int{13}) {
		t.Errorf("--set min_runtime=7m: spared %v", c.Spared)
	}
}

func TestDroppingTheEscalationSkipsSteps(t *testing.T) {
	pb := shipped(t, "cancel-long-queries")
	events := record(t, pb, engine.Yes, nil)
	src := string(pb.Source)
	noTerminate := parse(t, "no-terminate.yaml", strings.Replace(src, "if: len(stubborn) > 0\n    terminate:", "if: false\n    terminate:", 1))
	c := against(t, events, noTerminate, Options{})
	if want := []Signal{{activity.Terminate, 12}}; !slices.Equal(c.Spared, want) || len(c.Targeted) != 0 {
		t.Errorf("spared %v targeted %v, want spared %v", c.Spared, c.Targeted, want)
	}
	want := []string{
		"Now spared (1):\n  pg_terminate_backend: pid 12 (user app, application etl, active for 9m00s, SELECT b)\n",
		"[13] terminate: now skipped (condition is false: false); it ran",
		"[13] terminate: no longer sends pg_terminate_backend to pid 12",
		"[14] gone: the check of pid 12 (user app, application etl, active for 9m00s, SELECT b): failed; it was passed",
	}
	var out bytes.Buffer
	c.Write(&out, "incident.jsonl")
	for _, w := range want {
		if !strings.Contains(out.String(), w) {
			t.Errorf("report lacks %q:\n%s", w, out.String())
		}
	}
	if !strings.Contains(out.String(), "the run ends failed (exit 1)") {
		t.Errorf("report does not say the run now fails:\n%s", out.String())
	}
}

// TestRecordedAnswersAreReplayed: an interactive run is replayed with the
// operator's answers; a new protection shows as a session left out.
func TestRecordedAnswersAreReplayed(t *testing.T) {
	pb := shipped(t, "cancel-long-queries")
	events := record(t, pb, engine.Interactive, &script{answers: []engine.Answer{
		{Choice: engine.ChooseSubset, PIDs: []int{11, 12}, TypedCount: 2},
		{Choice: engine.ChooseSkip},
	}})
	if c := against(t, events, pb, Options{}); !c.Identical() {
		t.Errorf("same playbook: %+v", c.Differences)
	}
	protected := parse(t, "protected.yaml", strings.Replace(string(pb.Source), "protect:\n", "protect:\n  - application_name == \"etl\"\n", 1))
	c := against(t, events, protected, Options{})
	if !slices.Equal(PIDs(c.Spared), []int{12}) {
		t.Errorf("spared %v, want [12]", c.Spared)
	}
	var out bytes.Buffer
	c.Write(&out, "incident.jsonl")
	if !strings.Contains(out.String(), `[7] approved: now leaves out pid 12 (user app, application etl, active for 9m00s, SELECT b): protected by: application_name == "etl"`) {
		t.Errorf("report:\n%s", out.String())
	}
}

// TestRunLevelProtectionIsRecovered: a rule given with --protect is not in
// run_started, but the sessions it left out name it.
func TestRunLevelProtectionIsRecovered(t *testing.T) {
	pb := shipped(t, "cancel-long-queries")
	fx, _ := fixture.Parse("incident", []byte(incidentFixture))
	vals, _ := pb.Resolve(nil)
	protect, err := pb.CompileProtect([]string{`application_name == "web"`})
	if err != nil {
		t.Fatal(err)
	}
	run, err := fixture.RunOffline(context.Background(), fixture.RunOptions{Playbook: pb, Params: vals, Source: fx.NewSource(), Protect: protect})
	if err != nil {
		t.Fatal(err)
	}
	c := against(t, run.Events, pb, Options{})
	if !c.Identical() || len(c.Notes) != 1 || !strings.Contains(c.Notes[0], `"application_name == \"web\""`) {
		t.Errorf("identical %v, notes %q, differences %+v", c.Identical(), c.Notes, c.Differences)
	}
}

type script struct{ answers []engine.Answer }

func (s *script) Choose(context.Context, engine.Question) (engine.Answer, error) {
	a := s.answers[0]
	s.answers = s.answers[1:]
	return a, nil
}

// TestRecordedScenariosReplayUnchanged replays the real runs recorded in
// testdata/report (an escalation to terminate, a lock chain) against the
// shipped playbooks of today: their steps may have changed since (new
// steps, sampling), but they must still signal exactly the same sessions
// with the same functions.
func TestRecordedScenariosReplayUnchanged(t *testing.T) {
	files, _ := filepath.Glob("../../testdata/report/*.jsonl")
	if len(files) < 2 {
		t.Fatalf("recorded scenarios: %v", files)
	}
	for _, path := range files {
		rr, err := transcript.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		c := against(t, rr.Events, shipped(t, rr.Events[0].Playbook), Options{})
		if len(c.Targeted) > 0 || len(c.Spared) > 0 {
			t.Errorf("%s: now targeted %+v, now spared %+v", path, c.Targeted, c.Spared)
		}
	}
}
