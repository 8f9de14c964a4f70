package playbooktest

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/pgrunbook/pgrunbook/internal/fixture"
	"github.com/pgrunbook/pgrunbook/internal/playbook"
	"github.com/pgrunbook/pgrunbook/internal/position"
	"github.com/pgrunbook/pgrunbook/playbooks"
)

// TestBrokenExpectationFailsWithReadableDiff runs a test file with wrong
// expectations: the case fails, and the report says what was expected
// (-) and what happened (+), set by set, action by action.
func TestBrokenExpectationFailsWithReadableDiff(t *testing.T) {
	var out bytes.Buffer
	sum := Run(context.Background(), []string{"testdata/broken.test.yaml"}, Options{Out: &out})
	if sum.OK() || sum.Failed != 1 || sum.Passed != 1 {
		t.Fatalf("summary %+v\n%s", sum, out.String())
	}
	want := `FAIL  broken/expects the wrong sessions (testdata/broken.test.yaml:5)
      outcome (- expected, + actual):
        - failed
        + done
      sets.long (- expected, + actual):
        - [101 103]
        + [101]
        (missing [103])
      actions (- expected, + actual):
          pg_cancel_backend 101 signalled
        - pg_cancel_backend 103 signalled
      prompts (- expected, + actual):
        - approved: all [101 103]
        + approved: all [101]
ok    broken/passes
FAIL  1 of 2 case(s) failed
`
	if out.String() != want {
		t.Errorf("report differs\n--- got\n%s\n--- want\n%s", out.String(), want)
	}
}

func TestRunPicksCasesByName(t *testing.T) {
	var out bytes.Buffer
	sum := Run(context.Background(), []string{"testdata/broken.test.yaml"}, Options{Out: &out, Match: regexp.MustCompile(`^broken/pass`), Verbose: true})
	if !sum.OK() || sum.Passed != 1 {
		t.Fatalf("summary %+v\n%s", sum, out.String())
	}
	if !strings.Contains(out.String(), "    | [8] Cancel the approved statements") {
		t.Errorf("-v does not show the run:\n%s", out.String())
	}
}

func TestFindExpandsDirectoriesAndPlaybooks(t *testing.T) {
	files, err := Find([]string{"../../playbooks", "../../playbooks/unblock-lock-chain.yaml"})
	if err != nil {
		t.Fatal(err)
	}
	names := make([]string, len(files))
	for i, f := range files {
		names[i] = filepath.Base(f)
	}
	if len(names) != len(playbooks.Names())+1 || names[len(names)-1] != "unblock-lock-chain.test.yaml" {
		t.Errorf("Find = %v", names)
	}
	if files, err := Find([]string{"."}); err == nil {
		t.Errorf("Find(.) looked into testdata: %v", files)
	}
	if files, err := Find([]string{"testdata"}); err != nil || len(files) != 3 {
		t.Errorf("Find(testdata) = %v, %v", files, err)
	}
	for _, bad := range []string{"nope", t.TempDir(), "../../testdata/playbooks/good/all-kinds.yaml"} {
		if _, err := Find([]string{bad}); err == nil || !strings.Contains(err.Error(), bad) {
			t.Errorf("Find(%s): %v", bad, err)
		}
	}
}

// TestTestFileErrors: a mistake in a test file is reported with its line,
// never silently ignored.
func TestTestFileErrors(t *testing.T) {
	head := "playbook: cancel-long-queries\ncases:\n  - name: c\n    sessions: [{pid: 1, state: active}]\n"
	cases := map[string]string{
		head + "    expect: {set: {long: [1]}}\n":                                      `t.test.yaml:5:14: unknown key "set"`,
		head + "    expect: {sets: {longg: [1]}}\n":                                    `has no step "longg"`,
		head + "    expect: {sets: {stopped: [1]}}\n":                                  `write stopped.passed or stopped.failed`,
		head + "    expect: {sets: {long.failed: [1]}}\n":                              `a filter step's set has no parts`,
		head + "    expect: {actions: [kill 1]}\n":                                     `pg_cancel_backend or pg_terminate_backend`,
		head + "    expect: {actions: [cancel 1 maybe]}\n":                             `the outcome is one of`,
		head + "    expect: {outcome: fine}\n":                                         `outcome "fine"`,
		head + "    expect: {skipped: [nope]}\n":                                       `has no step "nope"`,
		head + "    expect: {prompts: [{answer: all}]}\n":                              `each prompt names its step`,
		head + "    fixture: nope\n":                                                   `give exactly one of`,
		head + "    params: {min_runtime: soon}\n":                                     `t.test.yaml:3: params: min_runtime=soon`,
		head + "    params: {nope: 1}\n":                                               `has no parameter "nope"`,
		head + "    mode: sometimes\n":                                                 `mode "sometimes"`,
		head + "    answers: [all]\n":                                                  `answers are for mode: interactive`,
		head + "    mode: interactive\n    answers: [maybe]\n":                         `use all, subset PID..., skip, refresh or abort`,
		head + "    protect: ['usenme == \"x\"']\n":                                    `protect: --protect`,
		head + "  - name: c\n    sessions: []\n":                                       `has the name of the case on line 3`,
		"playbook: cancel-long-queries\ncases:\n  - name: c\n    fixture: nope\n":      `fixture "nope": not a name under fixtures:`,
		"playbook: cancel-long-queries\ncases:\n  - name: c\n    fixture: nope.yaml\n": `no such file`,
		"playbook: nope\ncases: []\n":                                                  `no built-in playbook of that name`,
		"playbook: cancel-long-queries\ncases: []\n":                                   `no cases`,
		"playbook: cancel-long-queries\ncasez: []\n":                                   `unknown key "casez"`,
		"": `the file is empty`,
		"playbook: cancel-long-queries\ncases:\n  - sessions: []\n":                                                        `the case has no name`,
		"playbook: cancel-long-queries\nfixtures: {a: {sessions: [{pid: 1}, {pid: 1}]}}\ncases: [{name: c, fixture: a}]\n": `fixture a: session pid 1: the pid appears twice`,
	}
	dir := t.TempDir()
	path := filepath.Join(dir, "t.test.yaml")
	for src, want := range cases {
		if err := os.WriteFile(path, []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
		_, err := LoadFile(path)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q:\n  err  %v\n  want %q", src, err, want)
		}
	}
}

// TestTestFileErrorsArePositioned checks that problems of a test file
// are *position.Error with its file, line and snippet, as validate and
// test print and encode them.
func TestTestFileErrorsArePositioned(t *testing.T) {
	cases := map[string]string{
		"playbook: cancel-long-queries\ncases: [\n":                                                   "t.test.yaml:2:1: YAML syntax: did not find expected node content",
		"playbook: cancel-long-queries\ncasez: []\n":                                                  `t.test.yaml:2:1: unknown key "casez"`,
		"playbook: cancel-long-queries\ncases:\n  - name: c\n    mode: sometimes\n    sessions: []\n": `t.test.yaml:3: mode "sometimes"`,
	}
	path := filepath.Join(t.TempDir(), "t.test.yaml")
	for src, want := range cases {
		if err := os.WriteFile(path, []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
		_, err := LoadFile(path)
		var pe *position.Error
		if !errors.As(err, &pe) || !strings.HasPrefix(pe.Error(), path+strings.TrimPrefix(want, "t.test.yaml")) {
			t.Errorf("%q: got %v, want a *position.Error starting %q", src, err, want)
			continue
		}
		if lines := strings.Split(src, "\n"); pe.Snippet != lines[pe.Line-1] {
			t.Errorf("%q: snippet %q, want line %d", src, pe.Snippet, pe.Line)
		}
	}
}

func TestLoadFileRefusesAFileOverTheBound(t *testing.T) {
	path := filepath.Join(t.TempDir(), "big.test.yaml")
	if err := os.WriteFile(path, []byte("playbook: cancel-long-queries\ncases: []\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(path, MaxFileSize+1); err != nil {
		t.Fatal(err)
	}
	_, err := LoadFile(path)
	var pe *position.Error
	if !errors.As(err, &pe) || pe.Error() != path+": the file is larger than 16 MiB, too large for a playbook test file" {
		t.Errorf("got %v", err)
	}
}

func TestInteractiveCaseRunsOutOfAnswers(t *testing.T) {
	path := filepath.Join(t.TempDir(), "t.test.yaml")
	src := `playbook: cancel-long-queries
cases:
  - name: asks twice
    mode: interactive
    answers: [all]
    sessions: [{pid: 1, state: active, query_start: -1h, on_cancel: ignore}]
  - name: answers left over
    mode: interactive
    answers: [all, all, all, all]
    sessions: [{pid: 1, state: active, query_start: -1h}]
`
	if err := os.WriteFile(path, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	suite, err := LoadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	res := suite.RunCase(context.Background(), suite.Cases[0])
	if res.Err == nil || !strings.Contains(res.Err.Error(), `the run asked "Terminate this session?`) {
		t.Errorf("first case: %v", res.Err)
	}
	res = suite.RunCase(context.Background(), suite.Cases[1])
	if res.Err == nil || !strings.Contains(res.Err.Error(), "3 answer(s) left over") {
		t.Errorf("second case: %v", res.Err)
	}
}

// TestTranscriptAsFixture: a case may take its sessions from a recorded
// transcript; the recorded reactions (here, a cancel that was ignored)
// carry over.
func TestTranscriptAsFixture(t *testing.T) {
	dir := t.TempDir()
	src, _ := playbooks.Source("cancel-long-queries")
	pb, err := playbook.Parse("builtin:cancel-long-queries", src)
	if err != nil {
		t.Fatal(err)
	}
	fx, err := fixture.Parse("f", []byte(`sessions:
  - {pid: 7, state: active, query_start: -10m, on_cancel: ignore}
  - {pid: 8, state: active, query_start: -10m}
`))
	if err != nil {
		t.Fatal(err)
	}
	vals, _ := pb.Resolve(nil)
	run, err := fixture.RunOffline(context.Background(), fixture.RunOptions{Playbook: pb, Params: vals, Source: fx.NewSource()})
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "run.jsonl"), run.Transcript, 0o600); err != nil {
		t.Fatal(err)
	}
	test := `playbook: cancel-long-queries
cases:
  - name: from the transcript
    transcript: run.jsonl
    expect:
      sets: {stopped.failed: [7], stopped.passed: [8]}
      actions: [cancel 7 signalled, cancel 8 signalled, terminate 7 signalled]
      outcome: done
`
	if err := os.WriteFile(filepath.Join(dir, "x.test.yaml"), []byte(test), 0o644); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if sum := Run(context.Background(), []string{filepath.Join(dir, "x.test.yaml")}, Options{Out: &out}); !sum.OK() {
		t.Errorf("%s", out.String())
	}
}

func TestFixtureFiles(t *testing.T) {
	var out bytes.Buffer
	if sum := Run(context.Background(), []string{"testdata/fixture-files.test.yaml"}, Options{Out: &out}); !sum.OK() || sum.Passed != 2 {
		t.Errorf("%+v\n%s", sum, out.String())
	}
}

// TestNewStepsInTestFiles: a case gives later samples and the horizon's
// holders next to its sessions, and expects groups and notes.
func TestNewStepsInTestFiles(t *testing.T) {
	var out bytes.Buffer
	if sum := Run(context.Background(), []string{"testdata/steps.test.yaml"}, Options{Out: &out}); !sum.OK() || sum.Passed != 1 {
		t.Fatalf("%+v\n%s", sum, out.String())
	}
	// The same case with wrong groups and notes fails with a diff.
	src, err := os.ReadFile("testdata/steps.test.yaml")
	if err != nil {
		t.Fatal(err)
	}
	wrong := strings.NewReplacer(
		"{application_name: web, count: 3}", "{application_name: web, count: 4}",
		"notes: [A prepared transaction holds the xmin horizon.]", "notes: [A slot holds it]",
	).Replace(string(src))
	dir := t.TempDir()
	for _, name := range []string{"steps.yaml"} {
		data, err := os.ReadFile(filepath.Join("testdata", name))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	path := filepath.Join(dir, "steps.test.yaml")
	if err := os.WriteFile(path, []byte(wrong), 0o644); err != nil {
		t.Fatal(err)
	}
	out.Reset()
	if sum := Run(context.Background(), []string{path}, Options{Out: &out}); sum.Failed != 1 {
		t.Fatalf("%+v\n%s", sum, out.String())
	}
	for _, want := range []string{
		"      groups.by_app (- expected, + actual):\n" +
			"        - application_name=\"web\" count=\"4\"\n" +
			"        + application_name=\"web\" count=\"3\"\n" +
			"          application_name=\"batch\" count=\"2\"\n",
		"      notes (- expected, + actual):\n        - \"A slot holds it\" (no note contains it)\n",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("report lacks\n%s\n--- report\n%s", want, out.String())
		}
	}
}

func TestNewStepsTestFileErrors(t *testing.T) {
	dir := t.TempDir()
	data, err := os.ReadFile("testdata/steps.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "steps.yaml"), data, 0o644); err != nil {
		t.Fatal(err)
	}
	head := "cases:\n  - name: c\n    sessions: [{pid: 1, state: active}]\n"
	cases := map[string]string{
		head + "    expect: {groups: {everyone: [{count: 1}]}}\n":                                 `groups: step "everyone" is a activity step; groups are a summarize step's`,
		head + "    expect: {groups: {by_app: [{usename: app}]}}\n":                               `groups: by_app: group 1: "usename" is not one of application_name, count`,
		head + "    expect: {groups: {by_app: [{}]}}\n":                                           `group 1 gives nothing to compare`,
		head + "    expect: {groups: {nope: []}}\n":                                               `has no step "nope"`,
		head + "    expect: {sets: {apps: [1]}}\n":                                                `a summarize step produces no sessions`,
		head + "    expect: {sets: {holders.slots: [1]}}\n":                                       `a horizon step produces no sessions`,
		head + "    horizon: {slots: [{slot_name: s}]}\n":                                         `a horizon step reads only slots that hold the horizon`,
		head + "    horizon: {prepared: [{owner: x}]}\n":                                          `prepared transaction 1: give it a gid`,
		head + "    horizon: {slotz: []}\n":                                                       `steps.test.yaml:4:15: unknown key "slotz"`,
		head + "    samples: [{sessions: [{pid: 2}, {pid: 2}]}]\n":                                `sample 2: session pid 2: the pid appears twice`,
		"cases:\n  - name: c\n    fixture: x.yaml\n    horizon: {autovacuum_freeze_max_age: 5}\n": `horizon: and samples: go with sessions:`,
		"cases:\n  - name: c\n    transcript: x.jsonl\n    samples: []\n":                         `horizon: and samples: go with sessions:`,
	}
	path := filepath.Join(dir, "steps.test.yaml")
	for src, want := range cases {
		if err := os.WriteFile(path, []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
		_, err := LoadFile(path)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q:\n  err  %v\n  want %q", src, err, want)
		}
	}
}
