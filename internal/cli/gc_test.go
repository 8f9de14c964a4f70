package cli

import (
	"runtime/debug"
	"testing"
)

func TestCommandsPaceTheCollector(t *testing.T) {
	t.Setenv("GOGC", "")
	defer debug.SetGCPercent(debug.SetGCPercent(100))

	for _, c := range []struct {
		cmd     string
		percent int
	}{
		{"run", 400},
		{"resume", 400},
		{"watch", 200},
	} {
		if !tuneGC([]string{c.cmd, "cancel-long-queries"}) {
			t.Fatalf("%s: the collector was left as it was", c.cmd)
		}
		if p := debug.SetGCPercent(100); p != c.percent {
			t.Errorf("%s: GOGC %d, want %d", c.cmd, p, c.percent)
		}
	}
	for _, cmd := range []string{"replay", "report", "test", "rehearse", "list"} {
		if tuneGC([]string{cmd}) {
			t.Errorf("%s: the collector's pace changed; only run, resume and watch change it", cmd)
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
