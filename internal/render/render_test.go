package render

import (
	"bytes"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

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
	// Too narrow for the query column: it moves under its row.
	b.Reset()
	SessionTable(&b, rows, nil, 80, "  ")
	narrow := strings.Split(strings.TrimRight(b.String(), "\n"), "\n")
	if len(narrow) != 3 || !strings.HasPrefix(strings.TrimSpace(narrow[2]), "query: SELECT * FROM orders") || utf8.RuneCountInString(narrow[2]) > 80 {
		t.Errorf("narrow table:\n%s", b.String())
	}
	if len(lines) != 3 {
		t.Fatalf("want header, row and note, got:\n%s", b.String())
	}
	for _, l := range lines[:2] {
		if n := utf8.RuneCountInString(l); n > 120 {
			t.Errorf("line of %d columns exceeds 120: %q", n, l)
		}
	}
	row := lines[1]
	for _, want := range []string{"4242", "alice", "10.0.0.7:5123", "12m00s", "Lock:transactionid by 17", "SELECT * FROM o", "…"} {
		if !strings.Contains(row, want) {
			t.Errorf("row lacks %q: %q", want, row)
		}
	}
	if !strings.Contains(lines[2], "protected by") {
		t.Errorf("note line = %q", lines[2])
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
