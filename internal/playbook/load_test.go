package playbook

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/pgrunbook/pgrunbook/internal/activity"
	"github.com/pgrunbook/pgrunbook/internal/position"
	"github.com/pgrunbook/pgrunbook/playbooks"
)

func TestShippedPlaybooksLoad(t *testing.T) {
	names := playbooks.Names()
	if len(names) < 3 {
		t.Fatalf("want at least 3 shipped playbooks, got %v", names)
	}
	for _, name := range names {
		src, _ := playbooks.Source(name)
		pb, err := Parse(name+".yaml", src)
		if err != nil {
			var list position.List
			errors.As(err, &list)
			t.Errorf("%s: %s", name, list.Detailed())
			continue
		}
		if pb.Name != name {
			t.Errorf("%s.yaml declares name %q", name, pb.Name)
		}
		if pb.Summary == "" || pb.Guidance == "" {
			t.Errorf("%s: a shipped playbook needs a summary and guidance", name)
		}
	}
}

func mustParse(t *testing.T, src string) *Playbook {
	t.Helper()
	pb, err := Parse("test.yaml", []byte(src))
	if err != nil {
		t.Fatalf("parse: %v", err)
	}
	return pb
}

func parseErrors(t *testing.T, src string) position.List {
	t.Helper()
	_, err := Parse("bad.yaml", []byte(src))
	var list position.List
	if !errors.As(err, &list) {
		t.Fatalf("want an position.List, got %v", err)
	}
	return list
}

func TestAllErrorsReportedAtOnce(t *testing.T) {
	list := parseErrors(t, `name: x
colour: red
steps:
  - activity:
  - id: f
    filter:
      where: state == "active" && query_runtim > 1
  - cancel:
      targets: nope
      max_targets: many
`)
	want := []string{
		`bad.yaml:2:1: unknown key "colour"`,
		`bad.yaml:7:35: unknown name query_runtim`,
		`bad.yaml:9:16: targets "nope": no earlier step has id "nope"`,
		`bad.yaml:10:20: max_targets must be a whole number, not "many"`,
	}
	if len(list) != len(want) {
		t.Fatalf("got %d errors, want %d:\n%s", len(list), len(want), list.Detailed())
	}
	for i, w := range want {
		if !strings.HasPrefix(list[i].Error(), w) {
			t.Errorf("error %d = %q, want prefix %q", i, list[i].Error(), w)
		}
	}
}

func TestBlockScalarExpressionPosition(t *testing.T) {
	list := parseErrors(t, `name: x
steps:
  - activity:
  - filter:
      where: |
        state == "active" &&
          params.nope > 1
`)
	if len(list) != 1 || list[0].Line != 7 || list[0].Column != 18 {
		t.Fatalf("got %s, want one error at 7:18", list.Detailed())
	}
	if !strings.Contains(list[0].Message, "unknown parameter nope") {
		t.Errorf("message = %q", list[0].Message)
	}
}

func TestFoldedExpressionPosition(t *testing.T) {
	list := parseErrors(t, `name: x
steps:
  - activity:
  - filter:
      where: >-
        state == "active" &&
        params.nope > 1
`)
	if len(list) != 1 || list[0].Line != 7 || list[0].Column != 16 {
		t.Fatalf("got %s, want one error at 7:16", list.Detailed())
	}
}

func TestReferenceToLaterStep(t *testing.T) {
	list := parseErrors(t, `name: x
steps:
  - cancel: {targets: later}
  - id: later
    activity:
`)
	if len(list) != 1 || !strings.Contains(list[0].Message, "only use the sets of steps before it") {
		t.Fatalf("got %s", list.Detailed())
	}
}

func TestParamsResolveAndEvaluate(t *testing.T) {
	pb := mustParse(t, `name: x
params:
  min_runtime: {type: duration, default: 5m}
  apps: {type: list, default: [a, b]}
  limit: {type: int}
steps:
  - id: s
    activity:
  - id: f
    filter:
      where: query_runtime > params.min_runtime && application_name in params.apps
  - id: v
    verify: {targets: f, expect: gone}
  - if: len(v.failed) > params.limit
    note: hi
`)
	if _, err := pb.Resolve(nil); err == nil || !strings.Contains(err.Error(), "--set limit=") {
		t.Fatalf("missing required parameter: err = %v", err)
	}
	if _, err := pb.Resolve([]string{"limit=x"}); err == nil {
		t.Fatal("limit=x should not parse as an int")
	}
	if _, err := pb.Resolve([]string{"limt=1"}); err == nil || !strings.Contains(err.Error(), "has no parameter") {
		t.Fatalf("unknown parameter: err = %v", err)
	}
	vals, err := pb.Resolve([]string{"limit=0", "min_runtime=1m"})
	if err != nil {
		t.Fatal(err)
	}
	scope := pb.NewScope(vals)
	ev := scope.RowEvaluator()
	where := pb.Steps[1].Filter.Where
	row := activity.Session{ApplicationName: "b", QueryRuntime: 2 * time.Minute}
	if ok, err := ev.Bool(where, &row); err != nil || !ok {
		t.Errorf("2m in app b: got %v, %v; want true", ok, err)
	}
	row.QueryRuntime = 30 * time.Second
	if ok, _ := ev.Bool(where, &row); ok {
		t.Error("30s should not pass min_runtime=1m")
	}
	// The skipped verify reads as empty sets.
	if ok, err := scope.Condition(pb.Steps[3].If); err != nil || ok {
		t.Errorf("if on an unrun verify: %v, %v; want false", ok, err)
	}
	scope.Put("v", VerifySets{Failed: []activity.Session{{PID: 1}}})
	if ok, _ := scope.Condition(pb.Steps[3].If); !ok {
		t.Error("one failed session > limit 0 should be true")
	}
}
