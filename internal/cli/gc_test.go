package cli

import (
	"math"
	"runtime/debug"
	"testing"
)

func TestCommandsPaceTheCollector(t *testing.T) {
	t.Setenv("GOGC", "")
	t.Setenv("GOMEMLIMIT", "")
	defer debug.SetGCPercent(debug.SetGCPercent(100))
	defer debug.SetMemoryLimit(debug.SetMemoryLimit(math.MaxInt64))

	for _, c := range []struct {
		cmd     string
		percent int
		limit   int64
	}{
		{"run", -1, oneShotMemoryLimit},
		{"resume", -1, oneShotMemoryLimit},
		{"watch", watchGCPercent, watchMemoryLimit},
	} {
		if !tuneGC([]string{c.cmd, "cancel-long-queries"}) {
			t.Fatalf("%s: the collector was left as it was", c.cmd)
		}
		if p := debug.SetGCPercent(100); p != c.percent {
			t.Errorf("%s: GOGC %d, want %d", c.cmd, p, c.percent)
		}
		if l := debug.SetMemoryLimit(math.MaxInt64); l != c.limit {
			t.Errorf("%s: memory limit %d, want %d", c.cmd, l, c.limit)
		}
	}

	t.Setenv("GOGC", "50")
	if tuneGC([]string{"run"}) {
		t.Error("GOGC in the environment was overridden")
	}
	if p := debug.SetGCPercent(100); p != 100 {
		t.Errorf("with GOGC set: GOGC %d, want it untouched (100)", p)
	}
}
