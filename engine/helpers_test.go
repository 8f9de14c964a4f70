package engine_test

import (
	"bytes"
	"context"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/pgrunbook/pgrunbook/engine"
	"github.com/pgrunbook/pgrunbook/internal/pg"
	"github.com/pgrunbook/pgrunbook/internal/pg/pgtest"
	"github.com/pgrunbook/pgrunbook/internal/playbook"
	"github.com/pgrunbook/pgrunbook/internal/render"
	"github.com/pgrunbook/pgrunbook/internal/transcript"
	"github.com/pgrunbook/pgrunbook/playbooks"
)

// run is the outcome of one engine run in a test.
type run struct {
	res    engine.Result
	events []transcript.Event
	shown  string
	ownPID int
	path   string
}

// scriptedPrompter answers confirmations from a list, in order.
type scriptedPrompter struct {
	t       *testing.T
	answers []func(q engine.Question) engine.Answer
	asked   []engine.Question
}

func (p *scriptedPrompter) Choose(_ context.Context, q engine.Question) (engine.Answer, error) {
	p.asked = append(p.asked, q)
	if len(p.answers) == 0 {
		p.t.Fatalf("unexpected question: %s", q.Text)
	}
	a := p.answers[0]
	p.answers = p.answers[1:]
	return a(q), nil
}

func builtin(t *testing.T, name string) *playbook.Playbook {
	t.Helper()
	src, ok := playbooks.Source(name)
	if !ok {
		t.Fatalf("no built-in playbook %s", name)
	}
	pb, err := playbook.Parse("builtin:"+name, src)
	if err != nil {
		t.Fatal(err)
	}
	return pb
}

// runPlaybook runs a playbook against the test server with the given mode
// and --set values, and reads its transcript back.
func runPlaybook(t *testing.T, pb *playbook.Playbook, mode engine.Mode, prompter engine.Prompter, sets ...string) run {
	t.Helper()
	return runPlaybookWith(t, pb, engine.Options{Mode: mode, Prompter: prompter}, sets...)
}

// runPlaybookWith is runPlaybook with more options; the database,
// transcript, display and parameters are filled in here.
func runPlaybookWith(t *testing.T, pb *playbook.Playbook, opts engine.Options, sets ...string) run {
	t.Helper()
	return runPlaybookAs(t, pgtest.DSN(), pb, opts, sets...)
}

// runPlaybookAs is runPlaybookWith connected with dsn (another role).
func runPlaybookAs(t *testing.T, dsn string, pb *playbook.Playbook, opts engine.Options, sets ...string) run {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	vals, err := pb.Resolve(sets)
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
	var shown bytes.Buffer
	rd := &render.Renderer{W: &shown, Width: 160}
	opts.Playbook, opts.Params, opts.DB = pb, vals, client
	opts.Transcript, opts.Show = tw, rd.Event
	info := client.Info()
	opts.Server = transcript.Server{BackendPID: info.PID, User: info.User, Superuser: info.Privileges.Superuser,
		SignalBackend: info.Privileges.SignalBackend, ReadAllStats: info.Privileges.ReadAllStats,
		Provider: info.Provider, ReservedSlots: info.ReservedSlots}
	res, err := engine.Run(ctx, opts)
	if err != nil {
		t.Fatal(err)
	}
	tw.Close()
	rr, err := transcript.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if rr.Truncated || len(rr.Events) == 0 || rr.Events[len(rr.Events)-1].Type != transcript.RunFinished {
		t.Errorf("transcript %s is incomplete: %d events, truncated=%v", path, len(rr.Events), rr.Truncated)
	}
	// Every scenario's transcript replays to exactly what the operator saw.
	var replayed bytes.Buffer
	rp := &render.Renderer{W: &replayed, Width: 160}
	for _, ev := range rr.Events {
		rp.Event(ev)
	}
	if replayed.String() != shown.String() {
		t.Errorf("replaying the transcript differs from the live output\n--- live\n%s\n--- replay\n%s", shown.String(), replayed.String())
	}
	if t.Failed() || testing.Verbose() {
		t.Log("\n" + shown.String())
	}
	return run{res: res, events: rr.Events, shown: shown.String(), ownPID: client.Info().PID, path: path}
}

// actions returns the action events for a function, as pid → outcome.
func (r run) actions(fn string) map[int]string {
	out := map[int]string{}
	for _, ev := range r.events {
		if ev.Type == transcript.Action && string(ev.Function) == fn {
			out[ev.PID] = ev.Outcome
		}
	}
	return out
}

// signalled lists every pid any action event names.
func (r run) signalled() []int {
	var pids []int
	for _, ev := range r.events {
		if ev.Type == transcript.Action {
			pids = append(pids, ev.PID)
		}
	}
	return pids
}

// verified returns the verified event of a step.
func (r run) verified(t *testing.T, step string) transcript.Event {
	t.Helper()
	for _, ev := range r.events {
		if ev.Type == transcript.Verified && ev.Step == step {
			return ev
		}
	}
	t.Fatalf("no verified event for step %s", step)
	return transcript.Event{}
}

// assertUntouched fails if any of the pids (or our own backend) was named
// by an action.
func (r run) assertUntouched(t *testing.T, what string, pids ...int) {
	t.Helper()
	for _, p := range append(pids, r.ownPID) {
		if slices.Contains(r.signalled(), p) {
			t.Errorf("%s (pid %d) was targeted by an action", what, p)
		}
	}
}
