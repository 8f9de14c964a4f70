package engine_test

import (
	"bytes"
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/pgrunbook/pgrunbook/engine"
	"github.com/pgrunbook/pgrunbook/internal/activity"
	"github.com/pgrunbook/pgrunbook/internal/incident"
	"github.com/pgrunbook/pgrunbook/internal/pg"
	"github.com/pgrunbook/pgrunbook/internal/pg/pgtest"
	"github.com/pgrunbook/pgrunbook/internal/playbook"
	"github.com/pgrunbook/pgrunbook/internal/render"
	"github.com/pgrunbook/pgrunbook/internal/sandbox"
	"github.com/pgrunbook/pgrunbook/internal/transcript"
)

// waitingPlaybook waits on fresh snapshots for a condition that holds only
// once the marker session appears, so the run is busy polling while the
// test breaks its connection.
const waitingPlaybook = `name: waits
steps:
  - wait:
      until: any(rows, .application_name == "%s")
      timeout: 20s
  - id: snap
    activity:
`

// runBroken runs waitingPlaybook as dsn and, once the wait step has
// started, calls breakIt with pgrunbook's own backend pid; then it lets
// the wait end by connecting a marker session.
func runBroken(t *testing.T, dsn string, reconnectFor time.Duration, breakIt func(admin *pgx.Conn, ownPID int) error) (engine.Result, []transcript.Event, string) {
	t.Helper()
	return runBrokenOn(t, dsn, pgtest.DSN(), reconnectFor, breakIt)
}

// runBrokenOn is runBroken with the admin and marker connections made to
// adminDSN (another cluster).
func runBrokenOn(t *testing.T, dsn, adminDSN string, reconnectFor time.Duration, breakIt func(admin *pgx.Conn, ownPID int) error) (engine.Result, []transcript.Event, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	marker := "marker_" + strings.ReplaceAll(t.Name(), "/", "_")
	pb, err := playbook.Parse("waits.yaml", []byte(strings.Replace(waitingPlaybook, "%s", marker, 1)))
	if err != nil {
		t.Fatal(err)
	}
	client, err := pg.Connect(ctx, pg.Options{DSN: dsn})
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close(ctx)
	path := filepath.Join(t.TempDir(), "run.jsonl")
	tw, err := transcript.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer tw.Close()
	var shown bytes.Buffer
	rd := &render.Renderer{W: &shown, Width: 160}
	ownPID := client.Info().PID
	admin, err := pgx.Connect(ctx, adminDSN)
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close(context.Background())
	broken := make(chan error, 1)
	markerConn := make(chan *pgx.Conn, 1)
	show := func(ev transcript.Event) {
		rd.Event(ev)
		if ev.Type == transcript.StepStarted && ev.Kind == playbook.KindWait {
			go func() {
				broken <- breakIt(admin, ownPID)
				// Let the condition become true.
				conn, err := pgx.Connect(context.Background(), adminDSN+" application_name="+marker)
				if err == nil {
					markerConn <- conn
				}
				close(markerConn)
			}()
		}
	}
	res, err := engine.Run(ctx, engine.Options{
		Playbook: pb, DB: client, Mode: engine.Yes, Transcript: tw, Show: show, ReconnectFor: reconnectFor,
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := <-broken; err != nil {
		t.Fatal(err)
	}
	for conn := range markerConn {
		conn.Close(context.Background())
	}
	tw.Close()
	rr, err := transcript.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return res, rr.Events, shown.String()
}

func terminate(admin *pgx.Conn, pid int) error {
	_, err := admin.Exec(context.Background(), "SELECT pg_terminate_backend($1)", pid)
	return err
}

func TestOwnBackendTerminatedMidWaitReconnects(t *testing.T) {
	t.Parallel()
	res, events, shown := runBroken(t, pgtest.DSN(), 10*time.Second, terminate)
	if res.ExitCode != engine.ExitOK {
		t.Fatalf("exit %d (%s), want 0 after reconnecting\n%s", res.ExitCode, res.Message, shown)
	}
	var lost, back bool
	for _, ev := range events {
		lost = lost || ev.Type == transcript.Warning && strings.Contains(ev.Text, "lost the connection")
		back = back || ev.Type == transcript.Note && strings.HasPrefix(ev.Text, "reconnected after")
	}
	if !lost || !back {
		t.Errorf("transcript records loss=%v recovery=%v, want both\n%s", lost, back, shown)
	}
}

func TestServerNeverComesBackEndsConnectionLost(t *testing.T) {
	t.Parallel()
	db := pgtest.CreateDatabase(t, "lost")
	role := "lost_" + strings.TrimPrefix(db, "lost_")
	createRole(t, role)
	res, events, shown := runBroken(t, pgtest.DSNFor(db)+" user="+role, time.Second, func(admin *pgx.Conn, pid int) error {
		// The role may no longer log in: every reconnection fails.
		if _, err := admin.Exec(context.Background(), "ALTER ROLE "+role+" NOLOGIN"); err != nil {
			return err
		}
		return terminate(admin, pid)
	})
	if res.ExitCode != engine.ExitFailed || res.Outcome != engine.OutcomeConnectionLost {
		t.Fatalf("exit %d outcome %s, want 1 connection_lost\n%s", res.ExitCode, res.Outcome, shown)
	}
	last := events[len(events)-1]
	if last.Type != transcript.RunFinished || last.RunOutcome() != engine.OutcomeConnectionLost {
		t.Errorf("last event %+v, want run_finished connection_lost", last)
	}
}

// TestServerRestartMidWaitReconnects restarts the server (pg_ctl restart,
// fast mode) while a run polls; the run reconnects and finishes. It uses a
// cluster of its own.
func TestServerRestartMidWaitReconnects(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	c, err := sandbox.Start(ctx, sandbox.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		// The restarted postmaster is pg_ctl's child, not the sandbox's.
		_ = c.Command(context.Background(), "pg_ctl", "-D", c.DataDir, "stop", "-m", "immediate", "-w").Run()
		_ = c.Stop()
	})
	res, events, shown := runBrokenOn(t, c.DSN("postgres"), c.DSN("postgres"), 30*time.Second, func(_ *pgx.Conn, _ int) error {
		out, err := c.Command(ctx, "pg_ctl", "-D", c.DataDir, "restart", "-m", "fast", "-w", "-l", c.LogFile).CombinedOutput()
		if err != nil {
			return fmt.Errorf("pg_ctl restart: %v\n%s", err, out)
		}
		return nil
	})
	if res.ExitCode != engine.ExitOK {
		t.Fatalf("exit %d (%s), want 0 after the restart\n%s", res.ExitCode, res.Message, shown)
	}
	var back bool
	for _, ev := range events {
		back = back || ev.Type == transcript.Note && strings.HasPrefix(ev.Text, "reconnected after")
	}
	if !back {
		t.Errorf("the transcript does not record the reconnection\n%s", shown)
	}
}

// TestSignalAfterADeadConnectionIsSentOnceAfterReconnecting: the
// connection dies before a cancel is sent, and the client knows it (a
// statement already failed on it). The cancel is not recorded as an
// unknown outcome: the run reconnects, sends it, and records it signalled.
func TestSignalAfterADeadConnectionIsSentOnceAfterReconnecting(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	db := pgtest.CreateDatabase(t, "unsent_signal")
	app := "unsent-" + db
	lq := pgtest.Staged[*incident.Session](t)(incident.LongQuery(ctx, pgtest.DSNFor(db), app, time.Minute))
	pb := parsePlaybook(t, roundTripCancel)
	vals, err := pb.Resolve([]string{"app=" + app})
	if err != nil {
		t.Fatal(err)
	}
	client, err := pg.Connect(ctx, pg.Options{DSN: pgtest.DSN()})
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close(ctx)
	admin := pgtest.Connect(t)
	path := filepath.Join(t.TempDir(), "run.jsonl")
	tw, err := transcript.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer tw.Close()
	res, err := engine.Run(ctx, engine.Options{
		Playbook: pb, Params: vals, DB: client, Mode: engine.Yes, Transcript: tw, ReconnectFor: 10 * time.Second,
		BeforeSignal: func(activity.Function, []activity.Identity) error {
			// pgrunbook's backend dies, and the client learns it.
			pid := client.Info().PID
			if err := terminate(admin, pid); err != nil {
				return err
			}
			pgtest.WaitGone(t, ctx, admin, pid)
			if _, err := client.Snapshot(ctx); err == nil {
				return fmt.Errorf("a snapshot on the terminated backend %d succeeded", pid)
			}
			return nil
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	tw.Close()
	if res.ExitCode != engine.ExitOK {
		t.Errorf("exit %d (%s), want 0", res.ExitCode, res.Message)
	}
	pgtest.WaitDone(t, lq, lq.App)
	if got := pg.SQLState(lq.Err()); got != "57014" {
		t.Errorf("the long query ended with %v, want query_canceled", lq.Err())
	}
	rr, err := transcript.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var actions []transcript.Event
	var back bool
	for _, ev := range rr.Events {
		if ev.Type == transcript.Action {
			actions = append(actions, ev)
		}
		back = back || ev.Type == transcript.Note && strings.HasPrefix(ev.Text, "reconnected after")
	}
	if len(actions) != 1 || actions[0].PID != lq.PID || actions[0].Outcome != string(activity.Signalled) || !back {
		t.Errorf("actions %+v, reconnected %v; want one signalled action for pid %d after a reconnect", actions, back, lq.PID)
	}
}
