package cli_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pgrunbook/pgrunbook/internal/incident"
	"github.com/pgrunbook/pgrunbook/internal/pg/pgtest"
	"github.com/pgrunbook/pgrunbook/playbooks"
)

// jsonLines parses every line of stdout as one JSON object; a line that
// does not parse fails the test.
func jsonLines(t *testing.T, stdout string) []map[string]any {
	t.Helper()
	if stdout == "" {
		t.Fatal("no output on stdout")
	}
	if !strings.HasSuffix(stdout, "\n") {
		t.Errorf("output does not end with a newline: %q", stdout)
	}
	var out []map[string]any
	for i, line := range strings.Split(strings.TrimSuffix(stdout, "\n"), "\n") {
		var v map[string]any
		if err := json.Unmarshal([]byte(line), &v); err != nil {
			t.Fatalf("stdout line %d is not a JSON object: %v\n%s", i+1, err, line)
		}
		out = append(out, v)
	}
	return out
}

func TestOutputJSONRunDryRun(t *testing.T) {
	ctx := context.Background()
	db := pgtest.CreateDatabase(t, "jsonout")
	dsn := pgtest.DSNFor(db)
	long, err := incident.LongQuery(ctx, dsn, "report", time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(long.Close)
	dir := t.TempDir()
	path := filepath.Join(dir, "run.jsonl")
	r := pgrunbook(t, dir, nil, "run", "cancel-long-queries", "--dry-run", "--output", "json", "-d", dsn,
		"--set", "min_runtime=0s", "--set=database="+db, "--transcript", path)
	if r.code != 0 {
		t.Fatalf("exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	if !strings.Contains(r.stderr, "transcript: "+path) {
		t.Errorf("stderr does not name the transcript:\n%s", r.stderr)
	}
	lines := jsonLines(t, r.stdout)
	first, last := lines[0], lines[len(lines)-1]
	if first["type"] != "run_started" || first["mode"] != "dry-run" || first["playbook"] != "cancel-long-queries" {
		t.Errorf("first line %v", first)
	}
	if last["type"] != "run_finished" || last["exit_code"] == nil {
		t.Errorf("last line %v", last)
	}
	if code, ok := last["exit_code"].(float64); !ok || code != 0 {
		t.Errorf("run_finished exit_code %v, want 0", last["exit_code"])
	}
	found := false
	for _, l := range lines {
		if l["type"] == "intent" && strings.Contains(string(mustJSON(t, l)), fmt.Sprint(long.PID)) {
			found = true
		}
	}
	if !found {
		t.Errorf("no intent naming the long query's pid %s:\n%s", fmt.Sprint(long.PID), r.stdout)
	}
	// The lines are the transcript's own lines, hash chain and all.
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if string(data) != r.stdout {
		t.Errorf("stdout differs from the transcript\n--- stdout\n%s\n--- transcript\n%s", r.stdout, data)
	}
}

func mustJSON(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestOutputJSONRunRefusesToAsk(t *testing.T) {
	t.Parallel()
	r := pgrunbook(t, "", nil, "run", "cancel-long-queries", "--output", "json", "-d", "host=/nonexistent")
	if r.code != 2 || r.stdout != "" || !strings.Contains(r.stderr, "--output json cannot ask") {
		t.Errorf("exit %d\nstdout: %q\nstderr: %s", r.code, r.stdout, r.stderr)
	}
	if r := pgrunbook(t, "", nil, "list", "--output", "yaml"); r.code != 2 || !strings.Contains(r.stderr, `--output "yaml"`) {
		t.Errorf("--output yaml: exit %d %s", r.code, r.stderr)
	}
}

func TestOutputJSONReplay(t *testing.T) {
	t.Parallel()
	root := absRoot(t)
	files, err := filepath.Glob(filepath.Join(root, "testdata/report/*.jsonl"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no recorded transcripts: %v", err)
	}
	for _, file := range files {
		r := pgrunbook(t, root, nil, "replay", file, "--output", "json")
		if r.code != 0 {
			t.Fatalf("%s: exit %d\n%s", file, r.code, r.stderr)
		}
		lines := jsonLines(t, r.stdout)
		data, _ := os.ReadFile(file)
		if want := strings.Count(string(data), "\n"); len(lines) != want {
			t.Errorf("%s: %d lines, the transcript has %d", file, len(lines), want)
		}
		if lines[0]["type"] != "run_started" || lines[len(lines)-1]["type"] != "run_finished" {
			t.Errorf("%s: first %v, last %v", file, lines[0]["type"], lines[len(lines)-1]["type"])
		}
		if _, ok := lines[len(lines)-1]["exit_code"]; !ok {
			t.Errorf("%s: run_finished without exit_code: %v", file, lines[len(lines)-1])
		}
	}
	if r := pgrunbook(t, root, nil, "replay", files[0], "--output", "json", "--verify"); r.code != 2 {
		t.Errorf("--output json --verify: exit %d", r.code)
	}
}

func TestOutputJSONValidate(t *testing.T) {
	t.Parallel()
	r := pgrunbook(t, absRoot(t), nil, "validate", "--output", "json", "playbooks", "testdata/playbooks/bad/unknown-key.yaml")
	if r.code != 2 || r.stderr != "" {
		t.Fatalf("exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	lines := jsonLines(t, r.stdout)
	if len(lines) != len(playbooks.Names())+1 {
		t.Errorf("%d lines for %d playbooks and one bad file", len(lines), len(playbooks.Names()))
	}
	for _, l := range lines[:len(lines)-1] {
		if l["ok"] != true {
			t.Errorf("shipped playbook not ok: %v", l)
		}
	}
	bad := lines[len(lines)-1]
	problems, _ := bad["problems"].([]any)
	if bad["file"] != "testdata/playbooks/bad/unknown-key.yaml" || bad["ok"] != false || len(problems) == 0 {
		t.Fatalf("bad file line %v", bad)
	}
	p, _ := problems[0].(map[string]any)
	if p["line"] == float64(0) || p["column"] == float64(0) || !strings.Contains(p["message"].(string), "unknown key") {
		t.Errorf("problem %v", p)
	}
}

func TestOutputJSONTest(t *testing.T) {
	t.Parallel()
	root := absRoot(t)
	r := pgrunbook(t, root, nil, "test", "--output", "json", "internal/playbooktest/testdata/broken.test.yaml")
	if r.code != 1 {
		t.Fatalf("exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	lines := jsonLines(t, r.stdout)
	sum := lines[len(lines)-1]
	if sum["type"] != "summary" || sum["ok"] != false || sum["failed"] != float64(1) || sum["passed"] != float64(1) {
		t.Errorf("summary %v", sum)
	}
	var failing map[string]any
	for _, l := range lines[:len(lines)-1] {
		if l["type"] != "case" || l["playbook"] != "cancel-long-queries" {
			t.Errorf("case line %v", l)
		}
		if l["case"] == "expects the wrong sessions" {
			failing = l
		}
	}
	if failing == nil || failing["passed"] != false || !strings.Contains(failing["failures"].(string), "- [101 103]\n  + [101]") {
		t.Errorf("failing case %v", failing)
	}
	ok := pgrunbook(t, root, nil, "test", "playbooks", "--output", "json")
	okLines := jsonLines(t, ok.stdout)
	if ok.code != 0 || okLines[len(okLines)-1]["ok"] != true || len(okLines) < 2 {
		t.Errorf("shipped tests: exit %d, last %v", ok.code, okLines[len(okLines)-1])
	}
}

func TestOutputJSONList(t *testing.T) {
	t.Parallel()
	r := pgrunbook(t, "", nil, "list", "--output", "json")
	if r.code != 0 {
		t.Fatalf("exit %d %s", r.code, r.stderr)
	}
	lines := jsonLines(t, r.stdout)
	if len(lines) != len(playbooks.Names()) {
		t.Fatalf("%d lines for %d playbooks", len(lines), len(playbooks.Names()))
	}
	var cancel map[string]any
	for i, l := range lines {
		if l["name"] != playbooks.Names()[i] || l["summary"] == "" {
			t.Errorf("line %d: %v", i+1, l)
		}
		if l["name"] == "cancel-long-queries" {
			cancel = l
		}
	}
	params, _ := cancel["params"].([]any)
	if len(params) == 0 {
		t.Fatalf("cancel-long-queries has no params: %v", cancel)
	}
	p, _ := params[0].(map[string]any)
	if p["name"] != "min_runtime" || p["type"] != "duration" || p["default"] != "5m0s" || p["required"] != false {
		t.Errorf("min_runtime %v", p)
	}
}
