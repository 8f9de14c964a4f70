//go:build unix

package cli_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/pgrunbook/pgrunbook/internal/incident"
	"github.com/pgrunbook/pgrunbook/internal/pg/pgtest"
	"github.com/pgrunbook/pgrunbook/internal/sandbox"
	"github.com/pgrunbook/pgrunbook/internal/transcript"
)

// TestSignalsLeaveAServerLogLine: every signal leaves one line in the
// PostgreSQL server log naming the run (its transcript), the operator,
// the playbook, the function and the target's pid and backend_start, and
// an operator name full of quotes and SQL reaches it as text.
func TestSignalsLeaveAServerLogLine(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dsn, db, logFile := serverWithLog(t)
	var sessions []*incident.Session
	for i := range 2 {
		s, err := incident.LongQuery(ctx, dsn, fmt.Sprintf("audit-long-%d", i), time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(s.Close)
		sessions = append(sessions, s)
	}
	dir := t.TempDir()
	path := filepath.Join(dir, "run.jsonl")
	operator := `o'brien"); DROP TABLE x; --` + "\nsecond line"
	res := pgrunbook(t, dir, nil, "run", "cancel-long-queries", "--yes", "-d", dsn,
		"--operator", operator, "--set", "min_runtime=0s", "--set", "database="+db, "--transcript", path)
	if res.code != 0 {
		t.Fatalf("exit %d\n%s%s", res.code, res.stdout, res.stderr)
	}
	var actions []transcript.Event
	for _, ev := range readEvents(t, path) {
		if ev.Type == transcript.Action && ev.Outcome == "signalled" {
			actions = append(actions, ev)
		}
		if ev.Type == transcript.Warning && strings.Contains(ev.Text, "server log") {
			t.Errorf("warning: %s", ev.Text)
		}
	}
	if len(actions) != len(sessions) {
		t.Fatalf("%d signalled actions, want %d", len(actions), len(sessions))
	}
	abs, _ := filepath.Abs(path)
	for _, a := range actions {
		prefix := fmt.Sprintf("pgrunbook: %s pid=%d backend_start=", a.Function, a.PID)
		var found []string
		// The server writes its log asynchronously to the run: poll.
		deadline := time.Now().Add(20 * time.Second)
		for len(found) == 0 && time.Now().Before(deadline) {
			data, _ := os.ReadFile(logFile)
			for _, line := range strings.Split(string(data), "\n") {
				if i := strings.Index(line, prefix); i >= 0 {
					found = append(found, line[i:])
				}
			}
			if len(found) == 0 {
				time.Sleep(20 * time.Millisecond)
			}
		}
		if len(found) != 1 {
			t.Errorf("pid %d: %d server log lines, want 1: %q", a.PID, len(found), found)
			continue
		}
		line := found[0]
		fields := strings.Fields(strings.TrimPrefix(line, prefix))
		logged, err := time.Parse(time.RFC3339Nano, fields[0])
		if err != nil || !logged.Equal(*a.BackendStart) {
			t.Errorf("pid %d: logged backend_start %q (%v), want %s", a.PID, fields[0], err, a.BackendStart)
		}
		for _, want := range []string{
			"run=" + strconv.Quote(abs),
			// --operator, then the OS user, host and terminal.
			"operator=" + strings.TrimSuffix(strconv.Quote(operator), `"`) + " (",
			`playbook="cancel-long-queries"`,
		} {
			if !strings.Contains(line, want) {
				t.Errorf("pid %d: the log line %q does not contain %q", a.PID, line, want)
			}
		}
	}
}

// serverWithLog is a database on a server whose log file the test can
// read: on the test binary's sandbox cluster, or, under
// PGRUNBOOK_TEST_DSN, on a cluster of its own.
func serverWithLog(t *testing.T) (dsn, db, logFile string) {
	t.Helper()
	if c := pgtest.Cluster(); c != nil {
		db := pgtest.CreateDatabase(t, "audit")
		return c.DSN(db), db, c.LogFile
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	c, err := sandbox.Start(ctx, sandbox.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Stop() })
	admin, err := pgx.Connect(ctx, c.DSN("postgres"))
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close(ctx)
	if _, err := admin.Exec(ctx, "CREATE DATABASE audit"); err != nil {
		t.Fatal(err)
	}
	return c.DSN("audit"), "audit", c.LogFile
}
