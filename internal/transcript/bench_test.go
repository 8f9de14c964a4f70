package transcript

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/pgrunbook/pgrunbook/internal/activity"
)

// BenchmarkWriteActionEvent measures writing (and fsyncing) one action
// event, the cost paid per signalled session.
func BenchmarkWriteActionEvent(b *testing.B) {
	w, err := Create(filepath.Join(b.TempDir(), "bench.jsonl"))
	if err != nil {
		b.Fatal(err)
	}
	defer w.Close()
	start := time.Now()
	ev := Event{Type: Action, Step: "cancel", Function: activity.Cancel, PID: 4242, BackendStart: &start, Outcome: "signalled"}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := w.Write(ev); err != nil {
			b.Fatal(err)
		}
	}
}
