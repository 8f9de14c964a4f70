package cli_test

import (
	"context"
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
