package render

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/pgrunbook/pgrunbook/internal/activity"
	"github.com/pgrunbook/pgrunbook/internal/transcript"
)

// chain is a two-level lock chain: 10 idle in a transaction holds a lock,
// 20 (an ALTER) waits on it, 30 and 31 wait behind 20.
func chain() []activity.Session {
	return []activity.Session{
		{PID: 10, Usename: "app", State: "idle in transaction", StateRuntime: 5 * time.Minute, BlockingTotal: 3},
		{PID: 20, Usename: "dba", State: "active", QueryRuntime: 50 * time.Second, LockWaitRuntime: 42 * time.Second,
			WaitEventType: "Lock", WaitEvent: "relation", WaitLockMode: "AccessExclusiveLock", WaitRelation: "public.stock",
			BlockedBy: []int{10}, HardBlockedBy: []int{10}, RootBlockers: []int{10}, BlockingTotal: 2},
		{PID: 30, State: "active", QueryRuntime: 30 * time.Second, WaitEventType: "Lock", WaitEvent: "relation",
			WaitLockMode: "AccessShareLock", WaitRelation: "public.stock", BlockedBy: []int{20}, HardBlockedBy: []int{20}, RootBlockers: []int{10}},
		{PID: 31, State: "active", QueryRuntime: 29 * time.Second, LockWaitRuntime: 28 * time.Second, WaitEventType: "Lock", WaitEvent: "relation",
			WaitLockMode: "AccessShareLock", WaitRelation: "public.stock", BlockedBy: []int{10, 20}, SoftBlockedBy: []int{20}, HardBlockedBy: []int{10}, RootBlockers: []int{10}},
	}
}

func TestLockTreeOfATwoLevelChain(t *testing.T) {
	var b bytes.Buffer
	rows := chain()
	// The table shows only the waiters; the root comes from the snapshot.
	known := map[int]*activity.Session{}
	for i := range rows {
		known[rows[i].PID] = &rows[i]
	}
	LockTree(&b, rows[1:3], known, "")
	want := `lock tree (root blocker, then who waits on it):
  pid 10 app: idle in transaction for 5m00s, blocks 3 [not in this table]
  ├─ pid 20 dba: waits 42.0s for AccessExclusiveLock on public.stock, blocks 2
  │  └─ pid 30: waits 30.0s for AccessShareLock on public.stock
  └─ pid 31: waits 28.0s for AccessShareLock on public.stock, also behind 20 [not in this table]
`
	if got := b.String(); got != want {
		t.Errorf("lock tree:\n%s\nwant:\n%s", got, want)
	}
	b.Reset()
	LockTree(&b, []activity.Session{{PID: 99, State: "active"}}, known, "")
	if b.Len() != 0 {
		t.Errorf("a table without waiters or blockers has no tree:\n%s", b.String())
	}
}

func render(color bool, evs ...transcript.Event) string {
	var b bytes.Buffer
	r := &Renderer{W: &b, Width: 160, Color: color}
	for _, ev := range evs {
		r.Event(ev)
	}
	r.End()
	return b.String()
}

func TestSkippedStepsCollapseToOneLine(t *testing.T) {
	skip := func(i int, id string) transcript.Event {
		return transcript.Event{Type: transcript.StepSkipped, StepIndex: i, Step: id, Title: "t", Text: "condition is false: x"}
	}
	out := render(false, skip(6, "step6"), skip(7, "approved_ddl"), skip(8, "cancel_ddl"),
		transcript.Event{Type: transcript.StepStarted, StepIndex: 9, Title: "Next"}, skip(10, "last"))
	want := "\n    skipped 3 steps (conditions false): step6, approved_ddl, cancel_ddl\n\n[9] Next\n\n    skipped 1 step (condition false): last\n"
	if out != want {
		t.Errorf("got %q, want %q", out, want)
	}
}

func TestConfirmShowsCandidatesAndRestatedSetsOneLine(t *testing.T) {
	rows := chain()[:1]
	out := render(false,
		transcript.Event{Type: transcript.Selected, Kind: "filter", Set: "idle_roots", Rows: rows},
		transcript.Event{Type: transcript.Selected, Kind: "filter", Set: "to_terminate", Rows: rows},
		transcript.Event{Type: transcript.Selected, Kind: "confirm", Set: "approved", Rows: rows, Function: activity.Terminate,
			ServerFacts: &activity.Server{Host: "db1", Port: 5432, ClusterName: "main"}},
		transcript.Event{Type: transcript.Prompt, Question: "Terminate this session?", Answer: "all", Chosen: []int{10}, By: "operator"},
	)
	for _, want := range []string{
		"    to_terminate: 1 session, the same as idle_roots above\n",
		"    candidates to terminate (approved): 1 session, none approved until answered\n    on db1:5432 (primary, cluster main)\n",
		"    → all: approved 1 session (pid 10) (answered by operator)",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	if n := strings.Count(out, "PID "); n != 2 {
		t.Errorf("%d tables, want 2 (idle_roots and the confirmation's):\n%s", n, out)
	}
	if strings.Contains(out, "approved: 1 session") {
		t.Errorf("the set is called approved before the answer:\n%s", out)
	}
}

func TestDryRunClosingLines(t *testing.T) {
	code := 0
	out := render(false,
		transcript.Event{Type: transcript.RunStarted, Playbook: "p", Mode: "dry-run"},
		transcript.Event{Type: transcript.Snapshot, Rows: []activity.Session{{PID: 7, Usename: "app", ApplicationName: "report"}}},
		transcript.Event{Type: transcript.Action, Function: activity.Cancel, PID: 7, Outcome: "dry_run"},
		transcript.Event{Type: transcript.Action, Function: activity.Cancel, PID: 8, Outcome: "dry_run"},
		transcript.Event{Type: transcript.Action, Function: activity.Terminate, PID: 7, Outcome: "dry_run"},
		transcript.Event{Type: transcript.Action, Function: activity.Terminate, PID: 9, Outcome: "dry_run"},
		transcript.Event{Type: transcript.RunFinished, Outcome: "done", ExitCode: &code},
	)
	want := `Dry run finished (exit 0): nothing was signalled.
  A real run would cancel the statement of pid 7 (app/report), pid 8.
  It would terminate, if the cancel were ignored: pid 7 (app/report).
  A real run would terminate pid 9.
`
	if !strings.HasSuffix(out, want) {
		t.Errorf("dry run ends:\n%s\nwant the closing lines:\n%s", out, want)
	}
	if strings.Contains(out, "every check passed") {
		t.Errorf("a dry run says every check passed:\n%s", out)
	}
}

func TestColourMarksRiskOnlyWhenAsked(t *testing.T) {
	evs := []transcript.Event{
		{Type: transcript.Intent, Function: activity.Terminate, Targets: []activity.Identity{{PID: 1}}},
		{Type: transcript.Action, Function: activity.Terminate, PID: 1, Outcome: "denied"},
	}
	plain, coloured := render(false, evs...), render(true, evs...)
	if strings.Contains(plain, "\x1b[") {
		t.Errorf("uncoloured output holds escape sequences: %q", plain)
	}
	for _, want := range []string{styleRisk + "pg_terminate_backend" + styleReset, styleRisk + "denied by the server" + styleReset} {
		if !strings.Contains(coloured, want) {
			t.Errorf("coloured output lacks %q: %q", want, coloured)
		}
	}
	t.Setenv("NO_COLOR", "1")
	if ColorFor(true) {
		t.Error("ColorFor(terminal) with NO_COLOR set is true")
	}
	t.Setenv("NO_COLOR", "")
	if !ColorFor(true) || ColorFor(false) {
		t.Error("ColorFor: want colour on a terminal only")
	}
}
