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

// dryRunTranscript records a dry run of cancel-long-queries over one long
// statement and returns the transcript's path.
func dryRunTranscript(t *testing.T, dir string) string {
	t.Helper()
	ctx := context.Background()
	db := pgtest.CreateDatabase(t, "runbooks")
	dsn := pgtest.DSNFor(db)
	long, err := incident.LongQuery(ctx, dsn, "report", time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(long.Close)
	path := filepath.Join(dir, "run.jsonl")
	r := pgrunbook(t, dir, nil, "run", "cancel-long-queries", "--dry-run", "-d", pgtest.DSN(),
		"--set", "min_runtime=0s", "--set", "database="+db, "--transcript", path)
	if r.code != 0 {
		t.Fatalf("dry run: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	return path
}

// TestReplayVerifyNamesTheChangedLine flips one byte in each line of a
// real transcript but the last, in turn: replay --verify must fail and
// name that line.
func TestReplayVerifyNamesTheChangedLine(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	path := dryRunTranscript(t, dir)
	ok := pgrunbook(t, dir, nil, "replay", "--verify", path)
	if ok.code != 0 || !strings.Contains(ok.stdout, "hash chain intact") || !strings.Contains(ok.stdout, "head: sha256:") {
		t.Fatalf("verify of the untouched transcript: exit %d\n%s%s", ok.code, ok.stdout, ok.stderr)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.SplitAfter(strings.TrimSuffix(string(data), "\n"), "\n")
	if len(lines) < 5 {
		t.Fatalf("only %d lines", len(lines))
	}
	offset := 0
	for i, line := range lines[:len(lines)-1] {
		n := i + 1
		changed := []byte(string(data))
		changed[offset+len(line)/2] ^= 0x01
		offset += len(line)
		bad := filepath.Join(dir, fmt.Sprintf("flipped-%d.jsonl", n))
		if err := os.WriteFile(bad, changed, 0o600); err != nil {
			t.Fatal(err)
		}
		r := pgrunbook(t, dir, nil, "replay", bad, "--verify")
		if r.code != 1 || !strings.Contains(r.stderr, "hash chain broken") ||
			!(strings.Contains(r.stderr, fmt.Sprintf(".jsonl:%d:", n)) || strings.Contains(r.stderr, fmt.Sprintf("line %d ", n))) {
			t.Errorf("byte flipped in line %d: exit %d, stderr %q", n, r.code, r.stderr)
		}
	}
}

// TestReplayAgainstAChangedPlaybook replays a real dry run against the
// same playbook (exit 0) and against a copy whose threshold spares the
// statement (exit 1, the session listed as spared).
func TestReplayAgainstAChangedPlaybook(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	path := dryRunTranscript(t, dir)
	same := pgrunbook(t, dir, nil, "replay", path, "--against", "cancel-long-queries")
	if same.code != 0 || !strings.Contains(same.stdout, "No difference") {
		t.Errorf("against the same playbook: exit %d\n%s%s", same.code, same.stdout, same.stderr)
	}
	src, err := os.ReadFile(filepath.Join(absRoot(t), "playbooks", "cancel-long-queries.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	changed := strings.Replace(string(src), "query_runtime >= params.min_runtime", `query_runtime >= params.min_runtime + duration("1h")`, 1)
	if err := os.WriteFile(filepath.Join(dir, "changed.yaml"), []byte(changed), 0o644); err != nil {
		t.Fatal(err)
	}
	diff := pgrunbook(t, dir, nil, "replay", "--against", "changed.yaml", path)
	if diff.code != 1 || !strings.Contains(diff.stdout, "Now spared (2):\n  pg_cancel_backend: pid ") || !strings.Contains(diff.stdout, "application report") {
		t.Errorf("against the changed copy: exit %d\n%s%s", diff.code, diff.stdout, diff.stderr)
	}
	if r := pgrunbook(t, dir, nil, "replay", path, "--set", "min_runtime=1h"); r.code != 2 {
		t.Errorf("--set without --against: exit %d", r.code)
	}
}

func TestTestCommand(t *testing.T) {
	t.Parallel()
	root := absRoot(t)
	ok := pgrunbook(t, root, nil, "test", "playbooks")
	if ok.code != 0 || !strings.Contains(ok.stdout, "ok    cancel-long-queries/") || !strings.Contains(ok.stdout, "PASS  ") {
		t.Errorf("test playbooks: exit %d\n%s%s", ok.code, ok.stdout, ok.stderr)
	}
	broken := pgrunbook(t, root, nil, "test", "internal/playbooktest/testdata/broken.test.yaml", "-run", "wrong")
	if broken.code != 1 || !strings.Contains(broken.stdout, "FAIL  broken/expects the wrong sessions") || !strings.Contains(broken.stdout, "        - [101 103]\n        + [101]\n") {
		t.Errorf("test broken: exit %d\n%s%s", broken.code, broken.stdout, broken.stderr)
	}
	if strings.Contains(broken.stdout, "broken/passes") {
		t.Errorf("-run did not filter:\n%s", broken.stdout)
	}
	if r := pgrunbook(t, root, nil, "test", "no-such-dir"); r.code != 2 {
		t.Errorf("missing dir: exit %d", r.code)
	}
}

func TestValidateFormatJSON(t *testing.T) {
	t.Parallel()
	r := pgrunbook(t, absRoot(t), nil, "validate", "--format", "json", "playbooks", "testdata/playbooks/bad/unknown-key.yaml")
	if r.code != 2 {
		t.Fatalf("exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	var report struct {
		Valid    bool
		Problems int
		Files    []struct {
			File   string
			Valid  bool
			Errors []struct {
				File         string
				Line, Column int
				Message      string
			}
		}
	}
	if err := json.Unmarshal([]byte(r.stdout), &report); err != nil {
		t.Fatalf("%v\n%s", err, r.stdout)
	}
	last := report.Files[len(report.Files)-1]
	if report.Valid || report.Problems != len(last.Errors) || last.Valid || len(last.Errors) == 0 {
		t.Fatalf("report %+v", report)
	}
	e := last.Errors[0]
	if e.File != "testdata/playbooks/bad/unknown-key.yaml" || e.Line == 0 || e.Column == 0 || !strings.Contains(e.Message, "unknown key") {
		t.Errorf("error %+v", e)
	}
	for _, f := range report.Files[:len(report.Files)-1] {
		if !f.Valid || strings.HasSuffix(f.File, ".test.yaml") {
			t.Errorf("file %+v", f)
		}
	}
	if r.stderr != "" {
		t.Errorf("json mode wrote to stderr: %s", r.stderr)
	}
}

func TestSchemaAndReportCommands(t *testing.T) {
	t.Parallel()
	root := absRoot(t)
	s := pgrunbook(t, root, nil, "schema")
	want, err := os.ReadFile(filepath.Join(root, "playbooks", "schema.json"))
	if err != nil {
		t.Fatal(err)
	}
	if s.code != 0 || s.stdout != string(want) {
		t.Errorf("schema: exit %d, output differs from playbooks/schema.json: %v", s.code, s.stdout != string(want))
	}

	rep := pgrunbook(t, root, nil, "report", "testdata/report/stubborn-query.jsonl", "--redact-queries")
	if rep.code != 0 || !strings.HasPrefix(rep.stdout, "# Incident report: cancel-long-queries\n") ||
		!strings.Contains(rep.stdout, "Hash chain: intact") || strings.Contains(rep.stdout, "pg_sleep") {
		t.Errorf("report: exit %d\n%s%s", rep.code, rep.stdout, rep.stderr)
	}
	data, err := os.ReadFile(filepath.Join(root, "testdata/report/stubborn-query.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	tampered := filepath.Join(dir, "tampered.jsonl")
	if err := os.WriteFile(tampered, []byte(strings.Replace(string(data), `"outcome":"signalled"`, `"outcome":"not_found"`, 1)), 0o600); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "report.md")
	bad := pgrunbook(t, dir, nil, "report", tampered, "-o", out)
	written, _ := os.ReadFile(out)
	if bad.code != 1 || !strings.Contains(bad.stderr, "hash chain broken") || !strings.Contains(string(written), "Hash chain: **broken**") {
		t.Errorf("report of a tampered transcript: exit %d, stderr %q\n%s", bad.code, bad.stderr, written)
	}

	for _, cmd := range []string{"test", "report", "schema"} {
		h := pgrunbook(t, "", nil, cmd, "--help")
		if h.code != 0 || !strings.HasPrefix(h.stdout, "Usage: pgrunbook "+cmd) {
			t.Errorf("%s --help: exit %d\n%s%s", cmd, h.code, h.stdout, h.stderr)
		}
	}
}
