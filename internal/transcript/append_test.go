package transcript

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestOpenAppendContinuesTheChain: a transcript whose last line was cut
// off mid-write is continued after its last complete line, the cut-off
// bytes are handed back, and the chain holds over both parts.
func TestOpenAppendContinuesTheChain(t *testing.T) {
	path := filepath.Join(t.TempDir(), "run.jsonl")
	w, err := Create(path)
	if err != nil {
		t.Fatal(err)
	}
	for _, typ := range []string{RunStarted, StepStarted, Intent} {
		if _, err := w.Write(Event{Type: typ}); err != nil {
			t.Fatal(err)
		}
	}
	if _, _, err := OpenAppend(path); err == nil || !strings.Contains(err.Error(), "in use") {
		t.Errorf("a transcript whose writer is open was opened for append (err %v)", err)
	}
	w.Close()
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	partial := `{"seq":4,"time":"2026-01-01T00:`
	if _, err := f.WriteString(partial); err != nil {
		t.Fatal(err)
	}
	f.Close()

	a, info, err := OpenAppend(path)
	if err != nil {
		t.Fatal(err)
	}
	if info.Dropped != partial || len(info.Events) != 3 || info.Events[2].Type != Intent {
		t.Fatalf("append info: dropped %q, %d events", info.Dropped, len(info.Events))
	}
	ev, err := a.Write(Event{Type: RunResumed})
	if err != nil {
		t.Fatal(err)
	}
	if ev.Seq != 4 || ev.Prev != info.Head {
		t.Errorf("first appended event: seq %d prev %q, want 4 and %q", ev.Seq, ev.Prev, info.Head)
	}
	if _, err := a.Write(Event{Type: RunFinished}); err != nil {
		t.Fatal(err)
	}
	a.Close()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	res, err := VerifyChain(bytes.NewReader(data))
	if err != nil || res.Events != 5 || res.Truncated {
		t.Fatalf("chain after append: %+v, %v", res, err)
	}
	if strings.Contains(string(data), partial) {
		t.Error("the cut-off line is still in the file")
	}
}

// TestOpenAppendRefusesABrokenChain: a transcript changed after it was
// written is not continued, and is left as it was.
func TestOpenAppendRefusesABrokenChain(t *testing.T) {
	path := filepath.Join(t.TempDir(), "run.jsonl")
	w, err := Create(path)
	if err != nil {
		t.Fatal(err)
	}
	for _, typ := range []string{RunStarted, Note, Note} {
		if _, err := w.Write(Event{Type: typ, Text: "x"}); err != nil {
			t.Fatal(err)
		}
	}
	w.Close()
	data, _ := os.ReadFile(path)
	changed := bytes.Replace(data, []byte(`"text":"x"`), []byte(`"text":"y"`), 1)
	if err := os.WriteFile(path, changed, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, _, err := OpenAppend(path); err == nil || !strings.Contains(err.Error(), "hash chain") {
		t.Errorf("a changed transcript was opened for append (err %v)", err)
	}
	after, _ := os.ReadFile(path)
	if !bytes.Equal(after, changed) {
		t.Error("the refused transcript was modified")
	}
}
