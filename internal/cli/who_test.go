//go:build unix

package cli_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pgrunbook/pgrunbook/internal/incident"
	"github.com/pgrunbook/pgrunbook/internal/pg/pgtest"
	"github.com/pgrunbook/pgrunbook/internal/transcript"
	"github.com/pgrunbook/pgrunbook/playbooks"
)

// TestRunRecordsTheOperator: run_started names the operator (--operator,
// OS user, host, SSH client) and every prompt says which operator ran the
// run, also when --dry-run answered.
func TestRunRecordsTheOperator(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := pgtest.CreateDatabase(t, "who")
	long, err := incident.LongQuery(ctx, pgtest.DSNFor(db), "who-long", time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(long.Close)
	dir := t.TempDir()
	path := filepath.Join(dir, "run.jsonl")
	res := pgrunbook(t, dir, []string{"SSH_CONNECTION=203.0.113.5 50022 192.0.2.1 22"},
		"run", "cancel-long-queries", "--dry-run", "-d", pgtest.DSN(), "--operator", "alice",
		"--set", "min_runtime=0s", "--set", "database="+db, "--transcript", path)
	if res.code != 0 {
		t.Fatalf("exit %d\n%s%s", res.code, res.stdout, res.stderr)
	}
	evs := readEvents(t, path)
	op := evs[0].Operator
	host, _ := os.Hostname()
	if op == nil || op.Name != "alice" || op.OSUser == "" || op.Host != host || op.SSHClient != "203.0.113.5:50022" || op.Terminal != "" {
		t.Fatalf("run_started operator %+v: want alice, an OS user, host %q, SSH client 203.0.113.5:50022, no terminal", op, host)
	}
	prompts := eventsOfType(evs, transcript.Prompt)
	if len(prompts) == 0 {
		t.Fatal("the dry run recorded no prompt")
	}
	for _, p := range prompts {
		if p.By != transcript.ByDryRun || p.Operator == nil || *p.Operator != *op {
			t.Errorf("prompt by %q, operator %+v; want by %q and operator %+v", p.By, p.Operator, transcript.ByDryRun, op)
		}
	}
}

// TestRunRecordsProvenance: a playbook file in a git work tree is recorded
// with the HEAD commit and whether it has uncommitted changes;
// --require-committed refuses (exit 2, no transcript) a changed file and
// a file outside git, and allows a committed file and a built-in.
func TestRunRecordsProvenance(t *testing.T) {
	t.Parallel()
	db := pgtest.CreateDatabase(t, "provenance")
	src, ok := playbooks.Source("cancel-long-queries")
	if !ok {
		t.Fatal("no built-in cancel-long-queries")
	}
	repo := t.TempDir()
	gitRun(t, repo, "init", "-q")
	file := filepath.Join(repo, "runbooks", "cancel.yaml")
	if err := os.MkdirAll(filepath.Dir(file), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(file, src, 0o644); err != nil {
		t.Fatal(err)
	}
	gitRun(t, repo, "add", ".")
	gitRun(t, repo, "commit", "-q", "-m", "runbook")
	head := strings.TrimSpace(gitRun(t, repo, "rev-parse", "HEAD"))

	run := func(t *testing.T, playbook string, extra ...string) (result, string) {
		t.Helper()
		dir := t.TempDir()
		path := filepath.Join(dir, "run.jsonl")
		args := append([]string{"run", playbook, "--dry-run", "-d", pgtest.DSN(), "--set", "database=" + db, "--transcript", path}, extra...)
		return pgrunbook(t, dir, nil, args...), path
	}
	provenance := func(t *testing.T, path string) *transcript.Provenance {
		t.Helper()
		p := readEvents(t, path)[0].Provenance
		if p == nil {
			t.Fatal("run_started has no provenance")
		}
		return p
	}
	refused := func(t *testing.T, res result, path, why string) {
		t.Helper()
		if res.code != 2 || !strings.Contains(res.stderr, why) {
			t.Errorf("exit %d, stderr %q; want exit 2 saying %q", res.code, res.stderr, why)
		}
		if _, err := os.Stat(path); !os.IsNotExist(err) {
			t.Errorf("a refused run left a transcript (%v)", err)
		}
	}

	t.Run("committed", func(t *testing.T) {
		res, path := run(t, file, "--require-committed")
		if res.code != 0 {
			t.Fatalf("exit %d\n%s", res.code, res.stderr)
		}
		if p := provenance(t, path); p.Source != transcript.SourceGit || p.Commit != head || p.Uncommitted {
			t.Errorf("provenance %+v, want git at %s without uncommitted changes", p, head)
		}
	})
	t.Run("builtin", func(t *testing.T) {
		res, path := run(t, "cancel-long-queries", "--require-committed")
		if res.code != 0 {
			t.Fatalf("exit %d\n%s", res.code, res.stderr)
		}
		if p := provenance(t, path); p.Source != transcript.SourceBuiltin || p.Version == "" || p.Commit != "" {
			t.Errorf("provenance %+v, want builtin with pgrunbook's version", p)
		}
	})
	t.Run("outside git", func(t *testing.T) {
		loose := filepath.Join(t.TempDir(), "loose.yaml")
		if err := os.WriteFile(loose, src, 0o644); err != nil {
			t.Fatal(err)
		}
		res, path := run(t, loose)
		if res.code != 0 {
			t.Fatalf("exit %d\n%s", res.code, res.stderr)
		}
		if p := provenance(t, path); p.Source != transcript.SourceFile || p.Problem == "" {
			t.Errorf("provenance %+v, want file with the reason git could not say", p)
		}
		res, path = run(t, loose, "--require-committed")
		refused(t, res, path, "not a committed file in a git work tree")
	})
	// Last: it changes the work tree the other subtests read.
	t.Run("uncommitted", func(t *testing.T) {
		changed := append([]byte("# edited during the incident\n"), src...)
		if err := os.WriteFile(file, changed, 0o644); err != nil {
			t.Fatal(err)
		}
		res, path := run(t, file)
		if res.code != 0 {
			t.Fatalf("exit %d\n%s", res.code, res.stderr)
		}
		if p := provenance(t, path); p.Source != transcript.SourceGit || p.Commit != head || !p.Uncommitted {
			t.Errorf("provenance %+v, want git at %s with uncommitted changes", p, head)
		}
		res, path = run(t, file, "--require-committed")
		refused(t, res, path, "has uncommitted changes")
	})
}

// gitRun runs git in dir with a fixed identity and returns its output.
func gitRun(t *testing.T, dir string, args ...string) string {
	t.Helper()
	cmd := exec.Command("git", append([]string{"-C", dir, "-c", "user.name=Test", "-c", "user.email=test@example.com", "-c", "commit.gpgsign=false"}, args...)...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("git %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// readEvents reads a complete transcript.
func readEvents(t *testing.T, path string) []transcript.Event {
	t.Helper()
	res, err := transcript.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if res.Truncated || len(res.Events) == 0 {
		t.Fatalf("transcript %s truncated or empty", path)
	}
	return res.Events
}
