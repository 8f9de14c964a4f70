package transcript

import (
	"bytes"
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/pgrunbook/pgrunbook/internal/activity"
)

// TestNewEventsRoundTrip: summary, horizon and a terminate's wait are
// read back as written; with RedactQueries a summary grouped by query
// keeps its counts and loses its text.
func TestNewEventsRoundTrip(t *testing.T) {
	var buf bytes.Buffer
	w := NewWriter(&buf)
	w.RedactQueries = true
	prepared := time.Date(2026, 1, 1, 2, 0, 0, 0, time.UTC)
	evs := []Event{
		{Type: Summary, Step: "q", Set: "q", Groups: &GroupSummary{By: []string{"application_name", "query"}, Sessions: 3, TotalGroups: 2,
			Groups: []Group{{Key: []string{"web", "SELECT secret"}, Count: 2, PIDs: []int{1, 2}}, {Key: []string{"etl", ""}, Count: 1, PIDs: []int{3}}}}},
		{Type: Horizon, Step: "h", Holders: &activity.Horizon{FreezeMaxAge: 200000000,
			Slots:    []activity.ReplicationSlot{{Name: "s", Type: "logical", CatalogXminAge: 42}},
			Prepared: []activity.PreparedXact{{GID: "g", Prepared: prepared, XminAge: 7, PreparedRuntime: time.Hour}},
			Standbys: []activity.Standby{{ApplicationName: "r", XminAge: 9}}}},
		{Type: Intent, Step: "t", Function: activity.Terminate, WaitFor: 5 * time.Second},
	}
	if _, err := w.WriteBatch(evs); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(buf.String(), "secret") {
		t.Errorf("a redacted transcript holds query text: %s", buf.String())
	}
	rr, err := Read(bytes.NewReader(buf.Bytes()))
	if err != nil {
		t.Fatal(err)
	}
	g := rr.Events[0].Groups
	if g == nil || g.Sessions != 3 || g.TotalGroups != 2 || !slices.Equal(g.Groups[0].Key, []string{"web", RedactedQuery}) ||
		!slices.Equal(g.Groups[1].Key, []string{"etl", ""}) || !slices.Equal(g.Groups[0].PIDs, []int{1, 2}) {
		t.Errorf("summary read back %+v", g)
	}
	if evs[0].Groups.Groups[0].Key[1] != "SELECT secret" {
		t.Error("redaction changed the event the run keeps")
	}
	h := rr.Events[1].Holders
	if h == nil || h.Slots[0].CatalogXminAge != 42 || !h.Prepared[0].Prepared.Equal(prepared) || h.Prepared[0].PreparedRuntime != time.Hour || h.Standbys[0].XminAge != 9 {
		t.Errorf("horizon read back %+v", h)
	}
	if rr.Events[2].WaitFor != 5*time.Second {
		t.Errorf("wait_for read back %v", rr.Events[2].WaitFor)
	}
}

// TestTypedValuesKeepTheirJSON: the typed mode and outcomes are written as
// the strings transcripts always held, so older transcripts read the same.
func TestTypedValuesKeepTheirJSON(t *testing.T) {
	ev := Event{Seq: 2, Type: RunResumed, Mode: ModeDryRun, Outcome: string(RunDone), Resumed: &Resumption{By: "x", AfterSeq: 1, PreviousOutcome: RunInterrupted}}
	data, err := json.Marshal(ev)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"seq":2,"time":"0001-01-01T00:00:00Z","type":"run_resumed","mode":"dry-run","outcome":"done","resumed":{"by":"x","after_seq":1,"previous_outcome":"interrupted"}}`
	if string(data) != want {
		t.Errorf("got  %s\nwant %s", data, want)
	}
	var back Event
	if err := json.Unmarshal(data, &back); err != nil || back.Mode != ModeDryRun || back.RunOutcome() != RunDone || back.Resumed.PreviousOutcome != RunInterrupted {
		t.Errorf("read back %+v, %v", back, err)
	}
}
