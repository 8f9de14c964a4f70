package render

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/pgrunbook/pgrunbook/internal/activity"
	"github.com/pgrunbook/pgrunbook/internal/transcript"
)

func TestDuration(t *testing.T) {
	for d, want := range map[time.Duration]string{
		0:                               "-",
		850 * time.Millisecond:          "850ms",
		42 * time.Second:                "42.0s",
		5*time.Minute + 12*time.Second:  "5m12s",
		2*time.Hour + 3*time.Minute + 1: "2h03m",
		-time.Second:                    "-",
	} {
		if got := Duration(d); got != want {
			t.Errorf("Duration(%v) = %q, want %q", d, got, want)
		}
	}
}

func TestSessionTableFitsTheWidth(t *testing.T) {
	rows := []activity.Session{{
		PID: 4242, Usename: "alice", Datname: "shop", ApplicationName: "reporting", ClientAddr: "10.0.0.7", ClientPort: 5123,
		State: "active", QueryRuntime: 12 * time.Minute, WaitEventType: "Lock", WaitEvent: "transactionid", BlockedBy: []int{17},
		Query: "SELECT *\n  FROM orders o JOIN customers c ON c.id = o.customer_id WHERE " + strings.Repeat("x = 1 AND ", 40) + "true",
	}}
	var b bytes.Buffer
	SessionTable(&b, rows, []string{"protected by: usename == \"alice\""}, 120, "  ")
	lines := strings.Split(strings.TrimRight(b.String(), "\n"), "\n")
	if len(lines) != 3 {
		t.Fatalf("want header, row and note, got:\n%s", b.String())
	}
	for _, l := range lines[:2] {
		if n := TextWidth(l); n > 120 {
			t.Errorf("line of %d columns exceeds 120: %q", n, l)
		}
	}
	row := lines[1]
	for _, want := range []string{"4242", "alice", "10.0.0.7:5123", "12m00s", "Lock:transactionid", "SELECT * FROM o", "…"} {
		if !strings.Contains(row, want) {
			t.Errorf("row lacks %q: %q", want, row)
		}
	}
	if !strings.Contains(lines[2], "protected by") {
		t.Errorf("note line = %q", lines[2])
	}
	// Narrower: the columns shrink first, and the query stays on its row.
	b.Reset()
	SessionTable(&b, rows, nil, 100, "  ")
	mid := strings.Split(strings.TrimRight(b.String(), "\n"), "\n")
	if len(mid) != 2 || !strings.Contains(mid[1], "SELECT * FROM") || TextWidth(mid[1]) > 100 || !strings.HasSuffix(mid[0], "QUERY") {
		t.Errorf("table at 100 columns should keep the query on its row:\n%s", b.String())
	}
	// Too narrow even with every column shrunk: the query moves under
	// its row.
	b.Reset()
	SessionTable(&b, rows, nil, 60, "  ")
	narrow := strings.Split(strings.TrimRight(b.String(), "\n"), "\n")
	if len(narrow) != 3 || !strings.HasPrefix(strings.TrimSpace(narrow[2]), "query: SELECT * FROM orders") {
		t.Errorf("narrow table:\n%s", b.String())
	}
}

func TestSessionTableMeasuresWideCharacters(t *testing.T) {
	rows := []activity.Session{
		{PID: 1, Usename: "山田太郎", ApplicationName: "報告書", State: "active", QueryRuntime: time.Second, Query: "SELECT '日本語のクエリ' || repeat('x', 100) || '" + strings.Repeat("表", 60) + "'"},
		{PID: 2, Usename: "bob", ApplicationName: "app", State: "active", QueryRuntime: time.Second, Query: "SELECT 1"},
	}
	var b bytes.Buffer
	SessionTable(&b, rows, nil, 100, "")
	lines := strings.Split(strings.TrimRight(b.String(), "\n"), "\n")
	if len(lines) != 3 {
		t.Fatalf("table:\n%s", b.String())
	}
	for _, l := range lines {
		if n := TextWidth(l); n > 100 {
			t.Errorf("line takes %d columns, more than 100: %q", n, l)
		}
	}
	// The columns line up on screen: QUERY starts at the same column
	// as each row's query.
	col := TextWidth(lines[0][:strings.Index(lines[0], "QUERY")])
	for _, l := range lines[1:] {
		if got := TextWidth(l[:strings.Index(l, "SELECT")]); got != col {
			t.Errorf("query starts at column %d, the header at %d:\n%s", got, col, b.String())
		}
	}
}

func TestIdleSessionsShowHowLongTheyHaveBeenIdle(t *testing.T) {
	s := activity.Session{State: "idle in transaction", QueryRuntime: 3 * time.Second, StateRuntime: 5*time.Minute + 12*time.Second}
	if got := RuntimeCell(&s); got != "idle 5m12s" {
		t.Errorf("RuntimeCell(idle in transaction) = %q, want \"idle 5m12s\"", got)
	}
	s = activity.Session{State: "active", QueryRuntime: 42 * time.Second, StateRuntime: time.Hour}
	if got := RuntimeCell(&s); got != "42.0s" {
		t.Errorf("RuntimeCell(active) = %q, want the statement's runtime", got)
	}
}

func TestEndShowsUnknownOutcomes(t *testing.T) {
	var b bytes.Buffer
	r := &Renderer{W: &b}
	r.Event(transcript.Event{Type: transcript.Intent, Function: activity.Terminate,
		Targets: []activity.Identity{{PID: 1}, {PID: 2}}})
	r.Event(transcript.Event{Type: transcript.Action, PID: 1, Outcome: "signalled"})
	r.End()
	out := b.String()
	if !strings.Contains(out, "pid 2        outcome unknown") || strings.Contains(out, "pid 1        outcome unknown") {
		t.Errorf("End should mark only pid 2 as unknown:\n%s", out)
	}
}

func TestPrivilegeSummaryExplainsHiddenSessions(t *testing.T) {
	got := privilegeSummary(&transcript.Server{SignalBackend: true})
	if !strings.Contains(got, "hidden") || !strings.Contains(got, "never signalled") {
		t.Errorf("summary without pg_read_all_stats = %q", got)
	}
}

// writeCounter counts the writes it is given.
type writeCounter struct {
	bytes.Buffer
	writes int
}

func (w *writeCounter) Write(p []byte) (int, error) {
	w.writes++
	return w.Buffer.Write(p)
}

// TestEventsWritesABatchAtOnce: the outcomes of one signalling statement,
// given as one batch, reach the screen in one write, the same text as
// event by event.
func TestEventsWritesABatchAtOnce(t *testing.T) {
	start := time.Date(2026, 12, 2, 10, 0, 0, 0, time.UTC)
	evs := []transcript.Event{{Type: transcript.Intent, Step: "cancel", Function: activity.Cancel,
		Targets: []activity.Identity{{PID: 1, BackendStart: start}, {PID: 2, BackendStart: start}, {PID: 3, BackendStart: start}}}}
	for pid := 1; pid <= 3; pid++ {
		evs = append(evs, transcript.Event{Type: transcript.Action, Step: "cancel", Function: activity.Cancel, PID: pid, BackendStart: &start, Outcome: "signalled"})
	}
	var one writeCounter
	(&Renderer{W: &one, Width: 100}).Events(evs)
	var each writeCounter
	rd := &Renderer{W: &each, Width: 100}
	for _, ev := range evs {
		rd.Event(ev)
	}
	if one.writes != 1 {
		t.Errorf("a batch of %d events took %d writes, want 1", len(evs), one.writes)
	}
	if one.String() != each.String() || !strings.Contains(one.String(), "pid 3") {
		t.Errorf("the batch reads\n%s\nevent by event it reads\n%s", one.String(), each.String())
	}
}
