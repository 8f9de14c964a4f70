package transcript

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/pgrunbook/pgrunbook/internal/activity"
)

// chainFixture writes a short run to memory and returns its bytes.
func chainFixture(t *testing.T, redact bool) []byte {
	t.Helper()
	var buf bytes.Buffer
	w := NewWriter(&buf)
	w.RedactQueries = redact
	clock := time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)
	w.now = func() time.Time { clock = clock.Add(time.Millisecond); return clock }
	start := clock.Add(-time.Hour)
	events := []Event{
		{Type: RunStarted, Playbook: "p"},
		{Type: Snapshot, Rows: []activity.Session{{PID: 7, Query: "SELECT secret", BackendStart: start}}},
		{Type: Action, Function: activity.Cancel, PID: 7, BackendStart: &start, Outcome: "signalled"},
		{Type: RunFinished, Outcome: "done"},
	}
	for i, ev := range events {
		got, err := w.Write(ev)
		if err != nil {
			t.Fatal(err)
		}
		if (i == 0) != (got.Prev == "") {
			t.Fatalf("event %d: prev %q", i+1, got.Prev)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write(Event{Type: Note}); err == nil {
		t.Fatal("a closed in-memory writer accepted an event")
	}
	return buf.Bytes()
}

func TestChainIntactAndReadable(t *testing.T) {
	for _, redact := range []bool{false, true} {
		data := chainFixture(t, redact)
		res, err := VerifyChain(bytes.NewReader(data))
		if err != nil {
			t.Fatalf("redact=%v: %v", redact, err)
		}
		lines := strings.Split(strings.TrimSuffix(string(data), "\n"), "\n")
		if res.Events != 4 || res.Head != LineHash([]byte(lines[3])) || res.Truncated {
			t.Errorf("redact=%v: result %+v", redact, res)
		}
		rr, err := Read(bytes.NewReader(data))
		if err != nil || len(rr.Events) != 4 || rr.Events[1].Prev != LineHash([]byte(lines[0])) {
			t.Errorf("redact=%v: read back %+v, %v", redact, rr, err)
		}
	}
}

// TestChainNamesTheChangedLine flips every bit of every byte of every
// line but the last, one at a time: each change must break the chain, and
// the error must name the changed line.
func TestChainNamesTheChangedLine(t *testing.T) {
	data := chainFixture(t, false)
	lines := strings.SplitAfter(strings.TrimSuffix(string(data), "\n"), "\n")
	offset := 0
	for li, line := range lines[:len(lines)-1] {
		n := li + 1
		for i := range len(line) - 1 { // every byte but the newline
			for bit := range 8 {
				changed := bytes.Clone(data)
				changed[offset+i] ^= 1 << bit
				_, err := VerifyChain(bytes.NewReader(changed))
				var ce *ChainError
				if !errors.As(err, &ce) {
					t.Fatalf("line %d byte %d bit %d: chain holds (err %v)", n, i, bit, err)
				}
				if ce.Line != n && !strings.Contains(ce.Reason, fmt.Sprintf("line %d ", n)) {
					t.Fatalf("line %d byte %d bit %d: error does not name line %d: %v", n, i, bit, n, err)
				}
			}
		}
		offset += len(line)
	}
}

func TestChainLastLineIsProtectedByTheHead(t *testing.T) {
	data := chainFixture(t, false)
	before, err := VerifyChain(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	changed := bytes.Replace(data, []byte(`"outcome":"done"`), []byte(`"outcome":"dome"`), 1)
	after, err := VerifyChain(bytes.NewReader(changed))
	if err != nil {
		t.Fatal(err)
	}
	if after.Head == before.Head {
		t.Error("a change to the last line left the head hash unchanged")
	}
}

func TestChainRemovedInsertedAndTruncatedLines(t *testing.T) {
	data := chainFixture(t, false)
	lines := strings.SplitAfter(string(data), "\n")
	cases := map[string]struct {
		text string
		line int
	}{
		"first removed":  {strings.Join(lines[1:], ""), 1},
		"middle removed": {lines[0] + strings.Join(lines[2:], ""), 2},
		"swapped":        {lines[0] + lines[2] + lines[1] + lines[3], 2},
		"blank inserted": {lines[0] + "\n" + strings.Join(lines[1:], ""), 2},
		"duplicated":     {lines[0] + lines[1] + lines[1] + lines[2], 3},
	}
	for name, c := range cases {
		_, err := VerifyChain(strings.NewReader(c.text))
		var ce *ChainError
		if !errors.As(err, &ce) || ce.Line != c.line {
			t.Errorf("%s: err %v, want a break at line %d", name, err, c.line)
		}
	}
	cut := strings.Join(lines[:3], "") + lines[3][:20]
	res, err := VerifyChain(strings.NewReader(cut))
	if err != nil || !res.Truncated || res.TruncatedLine != 4 || res.Events != 3 {
		t.Errorf("cut-off last line: %+v, %v", res, err)
	}
}

// FuzzVerifyChain checks that arbitrary bytes never make the chain check
// panic, and that what it accepts also reads as a transcript.
func FuzzVerifyChain(f *testing.F) {
	f.Add([]byte(`{"seq":1,"time":"2026-01-01T00:00:00Z","type":"run_started"}` + "\n"))
	f.Add([]byte("{}\n\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		res, err := VerifyChain(bytes.NewReader(data))
		if err != nil {
			return
		}
		rr, rerr := Read(bytes.NewReader(data))
		if rerr != nil {
			t.Fatalf("chain intact (%+v) but Read fails: %v", res, rerr)
		}
		if len(rr.Events) != res.Events {
			t.Fatalf("chain counted %d events, Read %d", res.Events, len(rr.Events))
		}
	})
}
