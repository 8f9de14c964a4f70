package transcript

import (
	"bytes"
	"encoding/json"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/pgrunbook/pgrunbook/internal/activity"
)

// benchSnapshotEvent is a snapshot event of n sessions shaped like a busy
// server: a few long statements, many idle sessions, query texts of about
// 200 bytes.
func benchSnapshotEvent(n int) Event {
	now := time.Now().UTC()
	rows := make([]activity.Session, n)
	for i := range rows {
		state := "idle"
		if i < n/10 {
			state = "active"
		}
		rows[i] = activity.Session{
			PID: 100000 + i, Datname: "shop", Usename: "app", ApplicationName: fmt.Sprintf("web-%d", i%10),
			ClientAddr: fmt.Sprintf("10.1.%d.%d", i/250, i%250), ClientPort: 40000 + i,
			BackendStart: now.Add(-time.Hour), QueryStart: now.Add(-time.Duration(i) * time.Second),
			StateChange: now.Add(-time.Duration(i) * time.Millisecond), WaitEventType: "Client", WaitEvent: "ClientRead",
			State: state, BackendType: activity.ClientBackend, QueryID: int64(i) * 7919,
			Query:        fmt.Sprintf("SELECT o.id, o.customer_id, o.total_cents, c.name, c.email FROM orders o JOIN customers c ON c.id = o.customer_id WHERE o.created_at > now() - interval '1 day' AND o.status = 'open' LIMIT %d", i),
			QueryRuntime: time.Duration(i) * time.Second, BackendRuntime: time.Hour,
		}
	}
	return Event{Type: Snapshot, Step: "snapshot", Taken: &now, Rows: rows}
}

// BenchmarkWriteSnapshotEvent measures recording the snapshot of an
// activity step with 2,000 sessions: encoding, one write and one fsync.
// BenchmarkEncodeSnapshotEvent is the encoding alone; the difference is
// the write and the sync.
func BenchmarkWriteSnapshotEvent(b *testing.B) {
	w, err := Create(filepath.Join(b.TempDir(), "bench.jsonl"))
	if err != nil {
		b.Fatal(err)
	}
	defer w.Close()
	ev := benchSnapshotEvent(2000)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := w.Write(ev); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkEncodeSnapshotEvent is the encoding alone, as the Writer does
// it (encodeEvent) and as encoding/json alone would.
func BenchmarkEncodeSnapshotEvent(b *testing.B) {
	ev := benchSnapshotEvent(2000)
	for _, c := range []struct {
		name   string
		encode func(*bytes.Buffer, *json.Encoder) error
	}{
		{"encodeEvent", func(buf *bytes.Buffer, enc *json.Encoder) error { return encodeEvent(buf, enc, ev) }},
		{"encoding_json", func(_ *bytes.Buffer, enc *json.Encoder) error { return enc.Encode(ev) }},
	} {
		b.Run(c.name, func(b *testing.B) {
			var buf bytes.Buffer
			b.ReportAllocs()
			for b.Loop() {
				buf.Reset()
				enc := json.NewEncoder(&buf)
				enc.SetEscapeHTML(false)
				if err := c.encode(&buf, enc); err != nil {
					b.Fatal(err)
				}
			}
			b.SetBytes(int64(buf.Len()))
		})
	}
}
