package transcript

import (
	"bytes"
	"testing"
)

// FuzzRead feeds the transcript reader arbitrary bytes. It must never
// panic; what it returns as events must all have a type, and a file it
// reports as truncated must have its partial line last.
func FuzzRead(f *testing.F) {
	f.Add([]byte(`{"seq":1,"time":"2026-01-01T00:00:00Z","type":"run_started","playbook":"x"}` + "\n"))
	f.Add([]byte(`{"seq":1,"time":"2026-01-01T00:00:00Z","type":"action","pid":12,"outcome":"signalled"}` + "\n" + `{"seq":2,"ti`))
	f.Add([]byte("not json\n"))
	f.Add([]byte(""))
	f.Fuzz(func(t *testing.T, data []byte) {
		res, err := Read(bytes.NewReader(data))
		if res == nil {
			t.Fatal("nil result")
		}
		for _, ev := range res.Events {
			if ev.Type == "" {
				t.Fatalf("event without type accepted: %+v", ev)
			}
		}
		if res.Truncated && (err != nil || bytes.HasSuffix(data, []byte("\n"))) {
			t.Fatalf("truncated with err=%v or a final newline", err)
		}
	})
}
