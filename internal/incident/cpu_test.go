package incident

import (
	"errors"
	"runtime"
	"testing"
	"time"

	"github.com/pgrunbook/pgrunbook/internal/pg/pgtest"
)

// TestCPUHog: the hog computes without a wait event, its backend's CPU
// time grows (on Linux, where CPUTime reads /proc), and cancel stops it
// while its session stays.
func TestCPUHog(t *testing.T) {
	t.Parallel()
	ctx := pgtest.Context(t)
	dsn := localDSN(t)
	hog, err := CPUHog(ctx, dsn, "adhoc")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(hog.Close)
	if hog.Query != CPUHogSQL {
		t.Errorf("query %q", hog.Query)
	}
	if runtime.GOOS != "linux" {
		if _, err := CPUTime(hog.PID); !errors.Is(err, errors.ErrUnsupported) {
			t.Errorf("CPUTime off Linux = %v, want ErrUnsupported", err)
		}
	} else {
		start, err := CPUTime(hog.PID)
		if err != nil {
			t.Fatal(err)
		}
		// 100 ms of CPU is ten clock ticks: far more than a backend
		// waiting on anything would use.
		deadline := time.Now().Add(30 * time.Second)
		for {
			used, err := CPUTime(hog.PID)
			if err != nil {
				t.Fatal(err)
			}
			if used-start >= 100*time.Millisecond {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("the hog used %s of CPU in 30s", used-start)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	ctl := connectTo(t, dsn)
	var waitType *string
	if err := ctl.QueryRow(ctx, "SELECT wait_event_type FROM pg_stat_activity WHERE pid = $1 AND state = 'active'", hog.PID).Scan(&waitType); err != nil || waitType != nil {
		t.Errorf("the hog waits on %v (%v), want no wait event", waitType, err)
	}
	signalBackend(t, ctl, "pg_cancel_backend", hog.PID)
	pgtest.WaitDone(t, hog, hog.App)
	if got := sqlstate(hog.Err()); got != "57014" {
		t.Errorf("the hog ended with %v, want 57014", hog.Err())
	}
	if !hog.Alive(ctx) {
		t.Error("the hog's session did not survive its cancel")
	}
}
