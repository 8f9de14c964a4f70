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
	"github.com/pgrunbook/pgrunbook/internal/incident"
	"github.com/pgrunbook/pgrunbook/internal/pg"
	"github.com/pgrunbook/pgrunbook/internal/pg/pgtest"
	"github.com/pgrunbook/pgrunbook/internal/playbook"
	"github.com/pgrunbook/pgrunbook/internal/render"
	"github.com/pgrunbook/pgrunbook/internal/transcript"
)

// linkStatementTimeout is the statement timeout of runs over a link the
// tests cut: each statement gives up at 300ms + pg.StatementGrace.
const linkStatementTimeout = 300 * time.Millisecond

// cutPlaybook cancels one application's statement and verifies that it
// stopped; the statement ignores the cancel, so verify keeps polling.
const cutPlaybook = `name: cut-during-verify
params:
  app: {type: string}
steps:
  - id: snapshot
    activity:
  - id: targets
    filter:
      where: application_name == params.app && state == "active"
  - id: cancel
    cancel: {targets: targets, max_targets: 1}
  - id: stopped
    verify: {targets: targets, expect: query_stopped, timeout: 30s}
`

// runOverLink runs pb in --yes mode connected through a black-hole proxy
// to dsn; show sees every event after the renderer. The run's context
// has a generous deadline: a run that hangs ends interrupted, not with
// the outcome the tests want.
func runOverLink(t *testing.T, dsn string, pb *playbook.Playbook, reconnectFor time.Duration, show func(*pgtest.BlackHole, transcript.Event), sets ...string) (engine.Result, []transcript.Event, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	vals, err := pb.Resolve(sets)
	if err != nil {
		t.Fatal(err)
	}
	hole := pgtest.StartBlackHole(t, dsn)
	client, err := pg.Connect(ctx, pg.Options{DSN: hole.DSN(t, dsn) + " connect_timeout=1", StatementTimeout: linkStatementTimeout})
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
	res, err := engine.Run(ctx, engine.Options{
		Playbook: pb, Params: vals, DB: client, Mode: engine.Yes, Transcript: tw, ReconnectFor: reconnectFor,
		Show: func(ev transcript.Event) {
			rd.Event(ev)
			show(hole, ev)
		},
		Server: transcript.Server{BackendPID: client.Info().PID},
	})
	if err != nil {
		t.Fatal(err)
	}
	tw.Close()
	rr, err := transcript.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if testing.Verbose() {
		t.Log("\n" + shown.String())
	}
	return res, rr.Events, shown.String()
}

// noAnswerWarning reports whether the transcript warns that a statement
// got no answer within its bound.
func noAnswerWarning(events []transcript.Event) bool {
	for _, ev := range events {
		if ev.Type == transcript.Warning && strings.Contains(ev.Text, "no answer from the server within") {
			return true
		}
	}
	return false
}

// TestLinkCutDuringVerifyEndsConnectionLost: the network to the server
// stops carrying packets while verify polls, and nothing closes. The poll
// ends at its statement bound, every reconnection attempt fails within
// the reconnect window, and the run ends by itself: connection_lost,
// exit 1.
func TestLinkCutDuringVerifyEndsConnectionLost(t *testing.T) {
	t.Parallel()
	db := pgtest.CreateDatabase(t, "link_cut")
	app := "cut-" + db
	stubborn := pgtest.Staged[*incident.Session](t)(incident.StubbornQuery(context.Background(), pgtest.DSNFor(db), app, time.Minute))
	res, events, shown := runOverLink(t, pgtest.DSNFor(db), parsePlaybook(t, cutPlaybook), time.Second,
		func(hole *pgtest.BlackHole, ev transcript.Event) {
			if ev.Type == transcript.StepStarted && ev.Kind == playbook.KindVerify {
				hole.Cut()
			}
		}, "app="+app)
	if res.Outcome != engine.OutcomeConnectionLost || res.ExitCode != engine.ExitFailed {
		t.Fatalf("outcome %s exit %d (%s), want connection_lost exit 1\n%s", res.Outcome, res.ExitCode, res.Message, shown)
	}
	last := events[len(events)-1]
	if last.Type != transcript.RunFinished || last.RunOutcome() != engine.OutcomeConnectionLost || last.ExitCode == nil || *last.ExitCode != 1 {
		t.Errorf("last event %s/%s, want run_finished/connection_lost with exit 1\n%s", last.Type, last.Outcome, shown)
	}
	if !noAnswerWarning(events) {
		t.Errorf("no warning says the server did not answer within the bound\n%s", shown)
	}
	var signalled bool
	for _, ev := range events {
		signalled = signalled || ev.Type == transcript.Action && ev.PID == stubborn.PID && ev.Outcome == "signalled"
	}
	if !signalled {
		t.Errorf("the cancel before the cut was not recorded as signalled\n%s", shown)
	}
}

// TestLinkCutThatComesBackReconnects: the link dies during a `wait until`
// poll and comes back while pgrunbook reconnects; the run goes on and
// ends done.
func TestLinkCutThatComesBackReconnects(t *testing.T) {
	t.Parallel()
	marker := "marker_link_back"
	pb := parsePlaybook(t, fmt.Sprintf(`name: waits-over-a-link
steps:
  - wait:
      until: any(rows, .application_name == %q)
      timeout: 30s
  - id: snap
    activity:
`, marker))
	var markerConn *pgx.Conn
	t.Cleanup(func() {
		if markerConn != nil {
			markerConn.Close(context.Background())
		}
	})
	res, events, shown := runOverLink(t, pgtest.DSN(), pb, 20*time.Second, func(hole *pgtest.BlackHole, ev transcript.Event) {
		switch {
		case ev.Type == transcript.StepStarted && ev.Kind == playbook.KindWait:
			hole.Cut()
		case ev.Type == transcript.Warning && markerConn == nil:
			hole.Restore()
			conn, err := pgx.Connect(context.Background(), pgtest.DSN()+" application_name="+marker)
			if err != nil {
				t.Errorf("connecting the marker session: %v", err)
				return
			}
			markerConn = conn
		}
	})
	if res.ExitCode != engine.ExitOK {
		t.Fatalf("exit %d (%s), want 0 after the link came back\n%s", res.ExitCode, res.Message, shown)
	}
	var back bool
	for _, ev := range events {
		back = back || ev.Type == transcript.Note && strings.HasPrefix(ev.Text, "reconnected after")
	}
	if !noAnswerWarning(events) || !back {
		t.Errorf("transcript records the unanswered poll=%v and the recovery=%v, want both\n%s", noAnswerWarning(events), back, shown)
	}
}
