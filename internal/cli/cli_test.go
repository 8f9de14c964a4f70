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
	"github.com/pgrunbook/pgrunbook/internal/transcript"
)

// repoRoot is the module's root, where testdata/ lives.
const repoRoot = "../.."

func absRoot(t *testing.T) string {
	abs, err := filepath.Abs(repoRoot)
	if err != nil {
		t.Fatal(err)
	}
	return abs
}

func TestConnectionErrorsAreOneLineExit1(t *testing.T) {
	db := pgtest.CreateDatabase(t, "connerr")
	dsn := pgtest.DSNFor(db)
	cases := map[string]string{
		"missing database": strings.Replace(dsn, "dbname="+db, "dbname=no_such_db", 1),
		"unreachable":      "host=127.0.0.1 port=1 user=postgres dbname=postgres connect_timeout=3",
	}
	if c := pgtest.Cluster(); c != nil {
		cases["wrong password"] = passwordDSN(t, c.DataDir, dsn)
	}
	for name, d := range cases {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			r := pgrunbook(t, dir, nil, "run", "cancel-long-queries", "--dry-run", "-d", d)
			if r.code != 1 {
				t.Errorf("exit %d, want 1\n%s", r.code, r.stderr)
			}
			lines := strings.Split(strings.TrimSpace(r.stderr), "\n")
			if len(lines) != 1 || !strings.HasPrefix(lines[0], "pgrunbook: cannot connect to ") {
				t.Errorf("want one line 'pgrunbook: cannot connect to ...', got:\n%s", r.stderr)
			}
			if strings.Contains(r.stderr, "secret") {
				t.Errorf("the password leaked into the message: %s", r.stderr)
			}
			if entries, _ := os.ReadDir(filepath.Join(dir, "transcripts")); len(entries) != 0 {
				t.Errorf("a failed connection left %d transcript(s) behind", len(entries))
			}
		})
	}
}

// passwordDSN makes the harness cluster require a password for a new role
// and returns a DSN for that role with a wrong password.
func passwordDSN(t *testing.T, dataDir, dsn string) string {
	t.Helper()
	ctx := context.Background()
	conn := pgtest.Connect(t)
	if _, err := conn.Exec(ctx, `DO $$ BEGIN
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'pw_user') THEN
    CREATE ROLE pw_user LOGIN PASSWORD 'right-password';
  END IF; END $$`); err != nil {
		t.Fatal(err)
	}
	hba := filepath.Join(dataDir, "pg_hba.conf")
	old, err := os.ReadFile(hba)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(string(old), "host all pw_user") {
		line := "host all pw_user 127.0.0.1/32 scram-sha-256\n"
		if err := os.WriteFile(hba, append([]byte(line), old...), 0o600); err != nil {
			t.Fatal(err)
		}
		// The file keeps its owner: WriteFile truncates in place.
		if _, err := conn.Exec(ctx, "SELECT pg_reload_conf()"); err != nil {
			t.Fatal(err)
		}
	}
	return "host=127.0.0.1 port=" + portOf(dsn) + " user=pw_user password=secret-wrong dbname=postgres"
}

func portOf(dsn string) string {
	for _, f := range strings.Fields(dsn) {
		if p, ok := strings.CutPrefix(f, "port="); ok {
			return p
		}
	}
	return "5432"
}

// TestDryRunTranscriptReplays runs a dry run with flags after and before
// the playbook name, then replays its transcript, whole and cut mid-line.
func TestDryRunTranscriptReplays(t *testing.T) {
	ctx := context.Background()
	db := pgtest.CreateDatabase(t, "replay")
	dsn := pgtest.DSNFor(db)
	long, err := incident.LongQuery(ctx, dsn, "report", time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(long.Close)
	dir := t.TempDir()
	path := filepath.Join(dir, "run.jsonl")
	r := pgrunbook(t, dir, nil, "run", "--dry-run", "-d", dsn, "cancel-long-queries",
		"--set", "min_runtime=0s", "--set=database="+db, "--transcript", path)
	if r.code != 0 {
		t.Fatalf("dry run: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	if !strings.Contains(r.stdout, "dry run (would be signalled)") || !strings.Contains(r.stdout, "Transcript: "+path) {
		t.Errorf("dry-run output lacks the would-be action or the transcript path:\n%s", r.stdout)
	}
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Errorf("transcript mode %v, want 0600", st.Mode().Perm())
	}
	data, _ := os.ReadFile(path)
	res, err := transcript.Read(strings.NewReader(string(data)))
	if err != nil {
		t.Fatal(err)
	}
	first := res.Events[0]
	if first.Type != transcript.RunStarted || first.Mode != transcript.ModeDryRun || first.Server == nil || first.Server.User == "" || first.SHA256 == "" {
		t.Errorf("run_started = %+v", first)
	}

	replay := pgrunbook(t, dir, nil, "replay", path)
	if replay.code != 0 {
		t.Fatalf("replay: exit %d %s", replay.code, replay.stderr)
	}
	// The replay shows what the operator saw: the same lines, minus the
	// transcript path the live run printed.
	live := strings.ReplaceAll(r.stdout, "  transcript: "+path+"\n", "")
	live = strings.ReplaceAll(live, "Transcript: "+path+"\n", "")
	if replay.stdout != live {
		t.Errorf("replay differs from the live output\n--- live\n%s\n--- replay\n%s", live, replay.stdout)
	}

	// Cut the file in the middle of its last line.
	cut := filepath.Join(dir, "cut.jsonl")
	lastNL := strings.LastIndex(strings.TrimRight(string(data), "\n"), "\n")
	if err := os.WriteFile(cut, data[:lastNL+20], 0o600); err != nil {
		t.Fatal(err)
	}
	cr := pgrunbook(t, dir, nil, "replay", cut)
	if cr.code != 0 {
		t.Fatalf("replay of a cut transcript: exit %d %s", cr.code, cr.stderr)
	}
	if !strings.Contains(cr.stdout, "transcript cut off at line") || !strings.Contains(cr.stdout, "did not finish") {
		t.Errorf("cut replay does not say it was cut off:\n%s", cr.stdout)
	}

	// Cut right after the intent: the replay shows the outcome as unknown.
	var upToIntent []string
	for _, line := range strings.SplitAfter(string(data), "\n") {
		upToIntent = append(upToIntent, line)
		if strings.Contains(line, `"type":"intent"`) {
			break
		}
	}
	intentCut := filepath.Join(dir, "intent.jsonl")
	if err := os.WriteFile(intentCut, []byte(strings.Join(upToIntent, "")), 0o600); err != nil {
		t.Fatal(err)
	}
	ir := pgrunbook(t, dir, nil, "replay", intentCut)
	if ir.code != 0 || !strings.Contains(ir.stdout, fmt.Sprintf("pid %-8d outcome unknown", long.PID)) {
		t.Errorf("replay of a transcript cut after the intent: exit %d, want pid %d shown as outcome unknown:\n%s", ir.code, long.PID, ir.stdout)
	}
	if !long.Alive(ctx) {
		t.Error("the dry run disturbed the long query's session")
	}
	select {
	case <-long.Done():
		t.Errorf("the dry run ended the long query: %v", long.Err())
	default:
	}
}

func TestTranscriptUnwritableRefusesBeforeConnecting(t *testing.T) {
	dir := t.TempDir()
	// A path under a regular file cannot be created, even by root.
	blocker := filepath.Join(dir, "file")
	if err := os.WriteFile(blocker, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	r := pgrunbook(t, dir, nil, "run", "cancel-long-queries", "--yes", "-d", "host=127.0.0.1 port=1",
		"--transcript", filepath.Join(blocker, "run.jsonl"))
	if r.code != 1 || !strings.Contains(r.stderr, "transcript") || strings.Contains(r.stderr, "cannot connect") {
		t.Errorf("exit %d, stderr %q: want exit 1 about the transcript, before any connection attempt", r.code, r.stderr)
	}
}
