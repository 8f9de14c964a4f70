package rehearse

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pgrunbook/pgrunbook/internal/transcript"
)

// TestAppendScorecard appends a scorecard to two closed transcripts: each
// ends with the scorecard note on an intact chain, and the handle was
// released (the file can be opened for appending again). A transcript
// edited since its run is not appended to.
func TestAppendScorecard(t *testing.T) {
	dir := t.TempDir()
	var paths []string
	for _, name := range []string{"1.jsonl", "2.jsonl"} {
		p := filepath.Join(dir, name)
		w, err := transcript.Create(p)
		if err != nil {
			t.Fatal(err)
		}
		for _, ev := range []transcript.Event{{Type: transcript.RunStarted, Playbook: "p"}, {Type: transcript.RunFinished, Outcome: string(transcript.RunDone)}} {
			if _, err := w.Write(ev); err != nil {
				t.Fatal(err)
			}
		}
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		paths = append(paths, p)
	}
	card := &Scorecard{Scenario: "idle-in-transaction"}
	card.add(secPlaybooks, true, Resolution, "a check")
	if err := appendScorecard(paths, card); err != nil {
		t.Fatal(err)
	}
	for _, p := range paths {
		rr, err := transcript.ReadFile(p)
		if err != nil || rr.Broken != nil {
			t.Fatalf("%s: %v, chain %v", p, err, rr.Broken)
		}
		last := rr.Events[len(rr.Events)-1]
		if len(rr.Events) != 3 || last.Type != transcript.Note || last.Title != "scorecard" || !strings.Contains(last.Text, "a check") {
			t.Errorf("%s: events %+v", p, rr.Events)
		}
		w, _, err := transcript.OpenAppend(p)
		if err != nil {
			t.Fatalf("%s is still held after the scorecard: %v", p, err)
		}
		w.Close()
	}

	data, err := os.ReadFile(paths[0])
	if err != nil {
		t.Fatal(err)
	}
	edited := strings.Replace(string(data), `"playbook":"p"`, `"playbook":"q"`, 1)
	if err := os.WriteFile(paths[0], []byte(edited), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := appendScorecard(paths[:1], card); err == nil || !strings.Contains(err.Error(), paths[0]) {
		t.Errorf("an edited transcript: err %v, want a refusal naming it", err)
	}
}
