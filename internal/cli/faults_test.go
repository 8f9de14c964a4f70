package cli_test

import (
	"context"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/pgrunbook/pgrunbook/internal/incident"
	"github.com/pgrunbook/pgrunbook/internal/pg/pgtest"
	"github.com/pgrunbook/pgrunbook/internal/sandbox"
	"github.com/pgrunbook/pgrunbook/internal/transcript"
)

// startRun starts `pgrunbook run` without waiting for it.
func startRun(t *testing.T, dir string, args ...string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(binary, args...)
	cmd.Dir = dir
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + dir}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	return cmd
}

// TestKilledRunsLeaveReadableTranscripts kills runs with SIGKILL at twelve
// points after each created its transcript, one at a random moment in
// each eighth of a second of the first 1.5 s (a run of cancel-long-queries
// on a stubborn query lasts about that long: snapshot, cancel, the 1 s
// verify, terminate); every transcript must parse up to its last complete
// line and replay. The kill points count from the transcript's creation,
// not from the start, so how fast this machine starts a binary does not
// decide how many runs are tested.
func TestKilledRunsLeaveReadableTranscripts(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := pgtest.CreateDatabase(t, "crash")
	dsn := pgtest.DSNFor(db)
	dir := t.TempDir()
	rng := rand.New(rand.NewPCG(1, 2))
	const kills, span = 12, 1500 * time.Millisecond
	for i := range kills {
		long, err := incident.StubbornQuery(ctx, dsn, "report", time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		path := filepath.Join(dir, "run-"+string(rune('a'+i))+".jsonl")
		cmd := startRun(t, dir, "run", "cancel-long-queries", "--yes", "-d", dsn,
			"--set", "min_runtime=0s", "--set", "database="+db, "--transcript", path)
		awaitFile(t, path)
		slot := span / kills
		time.Sleep(time.Duration(i)*slot + time.Duration(rng.Int64N(int64(slot))))
		_ = cmd.Process.Signal(syscall.SIGKILL)
		_ = cmd.Wait()
		long.Close()

		data, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		res, err := transcript.Read(strings.NewReader(string(data)))
		if err != nil {
			t.Errorf("kill %d: transcript does not parse: %v", i, err)
			continue
		}
		if len(res.Events) > 0 && res.Events[0].Type != transcript.RunStarted {
			t.Errorf("kill %d: first event is %s", i, res.Events[0].Type)
		}
		if r := pgrunbook(t, dir, nil, "replay", path); r.code != 0 && len(res.Events) > 0 {
			t.Errorf("kill %d: replay exit %d: %s", i, r.code, r.stderr)
		}
	}
}

// TestSIGINTDuringVerifyEndsCleanly interrupts an unattended run while it
// polls: exit 130 and a transcript that says interrupted by Ctrl-C.
func TestSIGINTDuringVerifyEndsCleanly(t *testing.T) {
	t.Parallel()
	signalDuringVerify(t, os.Interrupt, "interrupted by the operator (Ctrl-C)")
}

// TestSIGTERMDuringVerifyEndsCleanly: SIGTERM (a service manager, kill)
// ends the run as cleanly as Ctrl-C, and the transcript says it was
// terminated, not interrupted by an operator.
func TestSIGTERMDuringVerifyEndsCleanly(t *testing.T) {
	t.Parallel()
	signalDuringVerify(t, syscall.SIGTERM, "terminated (SIGTERM)")
}

// interruptedRun is an unattended run of cancel-long-queries that a
// signal ended while it verified the cancel of a stubborn query, which
// still runs.
type interruptedRun struct {
	dir, path, dsn string
	stubborn       *incident.Session
}

// signalDuringVerify sends sig to an unattended run while its verify
// polls; the run must end with exit 130, run_finished interrupted with
// the message want, and nothing terminated.
func signalDuringVerify(t *testing.T, sig os.Signal, want string) interruptedRun {
	t.Helper()
	ctx := context.Background()
	db := pgtest.CreateDatabase(t, "signal")
	dsn := pgtest.DSNFor(db)
	stubborn, err := incident.StubbornQuery(ctx, dsn, "etl", 2*time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(stubborn.Close)
	dir := t.TempDir()
	path := filepath.Join(dir, "run.jsonl")
	cmd := startRun(t, dir, "run", "cancel-long-queries", "--yes", "-d", dsn,
		"--set", "min_runtime=0s", "--set", "database="+db, "--transcript", path)
	// The cancel is ignored, so the verify polls for 5s: signal it then.
	awaitInTranscript(t, path, `"type":"action"`, "the run never reached its cancel")
	if err := cmd.Process.Signal(sig); err != nil {
		t.Fatal(err)
	}
	err = cmd.Wait()
	if code := cmd.ProcessState.ExitCode(); code != 130 {
		t.Fatalf("exit %d (%v), want 130", code, err)
	}
	res, err := transcript.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	last := res.Events[len(res.Events)-1]
	if last.Type != transcript.RunFinished || last.Outcome != "interrupted" || last.Message != want {
		t.Errorf("last event %s/%s %q, want run_finished/interrupted %q", last.Type, last.Outcome, last.Message, want)
	}
	for _, ev := range res.Events {
		if ev.Type == transcript.Action && ev.Function == "pg_terminate_backend" {
			t.Error("the interrupted run went on to terminate")
		}
	}
	return interruptedRun{dir: dir, path: path, dsn: dsn, stubborn: stubborn}
}

// awaitInTranscript polls the transcript at path until it contains text,
// for at most 20 seconds.
func awaitInTranscript(t *testing.T, path, text, failure string) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		data, _ := os.ReadFile(path)
		if strings.Contains(string(data), text) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal(failure)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestTooManyConnections: with every ordinary slot taken by idle clients, a
// superuser still connects (reserved slots) and clears idle transactions;
// an ordinary role is told in one line why it cannot connect.
func TestTooManyConnections(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	c, err := sandbox.Start(ctx, sandbox.Options{Settings: map[string]string{
		"max_connections": "12", "superuser_reserved_connections": "3",
	}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Stop() })
	admin, err := pgx.Connect(ctx, c.DSN("postgres"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := admin.Exec(ctx, "CREATE ROLE app LOGIN; CREATE TABLE t (id int primary key, n int); INSERT INTO t VALUES (1, 0); GRANT ALL ON t TO app"); err != nil {
		t.Fatal(err)
	}
	admin.Close(ctx)
	appDSN := c.DSN("postgres") + " user=app"
	// Fill every ordinary slot; the first holds a transaction open.
	var conns []*pgx.Conn
	t.Cleanup(func() {
		for _, conn := range conns {
			conn.Close(context.Background())
		}
	})
	for i := 0; ; i++ {
		conn, err := pgx.Connect(ctx, appDSN)
		if err != nil {
			break
		}
		conns = append(conns, conn)
		if i == 0 {
			if _, err := conn.Exec(ctx, "BEGIN; UPDATE t SET n = n + 1 WHERE id = 1"); err != nil {
				t.Fatal(err)
			}
		}
		if i > 20 {
			t.Fatal("max_connections did not stop new connections")
		}
	}
	dir := t.TempDir()
	refused := pgrunbook(t, dir, nil, "run", "terminate-idle-in-transaction", "--yes", "-d", appDSN, "--set", "min_idle=0s")
	if refused.code != 1 || strings.Count(strings.TrimSpace(refused.stderr), "\n") != 0 || !strings.Contains(refused.stderr, "too many connections") {
		t.Errorf("ordinary role: exit %d, stderr %q; want exit 1 and one line about too many connections", refused.code, refused.stderr)
	}
	ok := pgrunbook(t, dir, nil, "run", "terminate-idle-in-transaction", "--yes", "-d", c.DSN("postgres"), "--set", "min_idle=0s")
	if ok.code != 0 {
		t.Fatalf("superuser: exit %d\n%s%s", ok.code, ok.stdout, ok.stderr)
	}
	if !strings.Contains(ok.stdout, "pg_terminate_backend") || !strings.Contains(ok.stdout, "signalled") {
		t.Errorf("the superuser run did not terminate the idle transaction:\n%s", ok.stdout)
	}
}
