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
