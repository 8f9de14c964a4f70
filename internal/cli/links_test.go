package cli_test

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pgrunbook/pgrunbook/internal/incident"
	"github.com/pgrunbook/pgrunbook/internal/pg/pgtest"
	"github.com/pgrunbook/pgrunbook/internal/transcript"
)

// TestLinkCutDuringVerifyEndsTheRun: the network to the server stops
// carrying packets while `run cancel-long-queries --yes` verifies its
// cancel, and nothing closes. The run must end by itself, after its
// statement bound (--statement-timeout plus the grace) and the reconnect
// window: exit 1, run_finished connection_lost. A run that hangs is
// killed at the test's deadline and the test fails.
func TestLinkCutDuringVerifyEndsTheRun(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := pgtest.CreateDatabase(t, "link_cut")
	dsn := pgtest.DSNFor(db)
	stubborn, err := incident.StubbornQuery(ctx, dsn, "etl", time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(stubborn.Close)
	hole := pgtest.StartBlackHole(t, dsn)
	dir := t.TempDir()
	path := filepath.Join(dir, "run.jsonl")
	cmd := exec.Command(binary, "run", "cancel-long-queries", "--yes", "-d", hole.DSN(t, dsn),
		"--statement-timeout", "500ms", "--reconnect-for", "3s", "--set", "min_runtime=0s", "--set", "database="+db, "--transcript", path)
	cmd.Dir = dir
	// Each reconnection attempt through the dead link waits 2s.
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + dir, "PGCONNECT_TIMEOUT=2"}
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()

	// The cancel is ignored, so the verify polls for 5s: cut the link then.
	awaitInTranscript(t, path, `"type":"action"`, "the run never reached its cancel")
	hole.Cut()
	select {
	case <-exited:
	case <-time.After(3 * time.Minute):
		_ = cmd.Process.Kill()
		<-exited
		t.Fatalf("the run was still waiting 3 minutes after the link was cut\n%s", out.String())
	}
	if code := cmd.ProcessState.ExitCode(); code != 1 {
		t.Fatalf("exit %d, want 1\n%s", code, out.String())
	}
	res, err := transcript.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	last := res.Events[len(res.Events)-1]
	if last.Type != transcript.RunFinished || last.Outcome != "connection_lost" || last.ExitCode == nil || *last.ExitCode != 1 {
		t.Errorf("last event %s/%s, want run_finished/connection_lost with exit 1\n%s", last.Type, last.Outcome, out.String())
	}
	var warned, window bool
	for _, ev := range res.Events {
		warned = warned || ev.Type == transcript.Warning && strings.Contains(ev.Text, "no answer from the server within")
		window = window || ev.Type == transcript.Warning && strings.Contains(ev.Text, "reconnecting for up to 3s")
	}
	if !window {
		t.Errorf("no warning says the run reconnects for the --reconnect-for window of 3s\n%s", out.String())
	}
	if !warned {
		t.Errorf("no warning says the server did not answer within the statement bound\n%s", out.String())
	}
}

// TestRunThatStopsBeforeConnectingDoesNotWaitForTheServer: run connects
// while it loads the playbook; a playbook that does not load ends the run
// at once with its own error, and does not wait for a connection to a
// server that does not answer (here one that would take 10 minutes to
// time out). A run that waits is killed at the test's bound and fails.
func TestRunThatStopsBeforeConnectingDoesNotWaitForTheServer(t *testing.T) {
	t.Parallel()
	hole := pgtest.StartBlackHole(t, pgtest.DSN())
	hole.Cut()
	dir := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, binary, "run", "no-such-playbook", "--dry-run", "-d", hole.DSN(t, pgtest.DSN()))
	cmd.Dir = dir
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + dir, "PGCONNECT_TIMEOUT=600"}
	out, err := cmd.CombinedOutput()
	if ctx.Err() != nil {
		t.Fatalf("the run was still waiting for the server a minute later:\n%s", out)
	}
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != 2 || !strings.Contains(string(out), `no playbook "no-such-playbook"`) {
		t.Fatalf("exit %v, want the usage error (2) about the playbook:\n%s", err, out)
	}
}
