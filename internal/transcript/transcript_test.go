package transcript

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pgrunbook/pgrunbook/internal/activity"
)

func TestWriteReadRoundTripAndMode(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sub", "run.jsonl")
	w, err := Create(path)
	if err != nil {
		t.Fatal(err)
	}
	w.RedactQueries = true
	rows := []activity.Session{{PID: 7, Query: "SELECT secret"}}
	if _, err := w.Write(Event{Type: RunStarted, Playbook: "p"}); err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write(Event{Type: Snapshot, Rows: rows}); err != nil {
		t.Fatal(err)
	}
	if rows[0].Query != "SELECT secret" {
		t.Fatal("redaction changed the caller's rows")
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Errorf("mode = %v, want 0600", st.Mode().Perm())
	}
	if _, err := Create(path); err == nil {
		t.Error("Create overwrote an existing transcript")
	}
	data, _ := os.ReadFile(path)
	if strings.Contains(string(data), "secret") {
		t.Error("redacted query text reached the file")
	}
	res, err := Read(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Events) != 2 || res.Events[0].Seq != 1 || res.Events[1].Seq != 2 || res.Truncated {
		t.Fatalf("read back %+v", res)
	}
	if res.Events[1].Rows[0].Query != RedactedQuery {
		t.Errorf("query = %q", res.Events[1].Rows[0].Query)
	}
}

func TestReadTruncatedAndCorrupt(t *testing.T) {
	good := `{"seq":1,"time":"2026-01-01T00:00:00Z","type":"run_started"}` + "\n"
	res, err := Read(strings.NewReader(good + `{"seq":2,"time":"2026-01-01T00:`))
	if err != nil || !res.Truncated || res.TruncatedLine != 2 || len(res.Events) != 1 {
		t.Fatalf("cut-off line: res=%+v err=%v", res, err)
	}
	_, err = Read(strings.NewReader(good + "not json\n" + good))
	var le *LineError
	if !errors.As(err, &le) || le.Line != 2 {
		t.Fatalf("corrupt middle line: err=%v", err)
	}
}

func TestWriteBatchKeepsOrderAndChain(t *testing.T) {
	var buf bytes.Buffer
	w := NewWriter(&buf)
	if _, err := w.Write(Event{Type: RunStarted}); err != nil {
		t.Fatal(err)
	}
	out, err := w.WriteBatch([]Event{{Type: Action, PID: 1}, {Type: Action, PID: 2}, {Type: Action, PID: 3}})
	if err != nil {
		t.Fatal(err)
	}
	if len(out) != 3 || out[0].Seq != 2 || out[2].Seq != 4 || out[1].PID != 2 {
		t.Fatalf("batch events %+v", out)
	}
	if _, err := w.Write(Event{Type: RunFinished}); err != nil {
		t.Fatal(err)
	}
	if _, err := VerifyChain(bytes.NewReader(buf.Bytes())); err != nil {
		t.Fatalf("chain broken after a batch: %v", err)
	}
}
