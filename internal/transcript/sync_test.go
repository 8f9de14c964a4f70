package transcript

import (
	"bytes"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pgrunbook/pgrunbook/internal/activity"
)

// countingWriter is a Writer whose destination counts its syncs and can
// be made to fail them.
func countingWriter(syncs *atomic.Int32, fail *atomic.Bool) (*Writer, *bytes.Buffer) {
	var buf bytes.Buffer
	w := NewWriter(&buf)
	w.sync = func() error {
		syncs.Add(1)
		if fail != nil && fail.Load() {
			return errors.New("disk full")
		}
		return nil
	}
	return w, &buf
}

func TestWhatSyncsAtOnce(t *testing.T) {
	cases := []struct {
		ev     Event
		dryRun bool
		want   bool
	}{
		{Event{Type: Intent}, false, true},
		{Event{Type: Action, Outcome: string(activity.Signalled)}, false, true},
		{Event{Type: RunFinished}, false, true},
		{Event{Type: RunResumed}, false, true},
		{Event{Type: RunFinished}, true, true},
		{Event{Type: Intent}, true, false},
		{Event{Type: Action, Outcome: string(activity.DryRun)}, true, false},
		{Event{Type: RunStarted}, false, false},
		{Event{Type: Snapshot}, false, false},
		{Event{Type: Selected}, false, false},
		{Event{Type: Prompt}, false, false},
		{Event{Type: Verified}, false, false},
	}
	for _, c := range cases {
		w := &Writer{dryRun: c.dryRun}
		if got := w.syncsAtOnce(c.ev); got != c.want {
			t.Errorf("%s (dry run %v): syncs at once %v, want %v", c.ev.Type, c.dryRun, got, c.want)
		}
	}
}

// An intent is on disk, with everything written before it, when Write
// returns; observations before it are synced by it, not one by one.
func TestIntentSyncsEverythingBeforeIt(t *testing.T) {
	var syncs atomic.Int32
	w, _ := countingWriter(&syncs, nil)
	defer w.Close()
	for _, ev := range []Event{{Type: RunStarted, Mode: "yes"}, {Type: StepStarted}, {Type: Snapshot}, {Type: Selected}} {
		if _, err := w.Write(ev); err != nil {
			t.Fatal(err)
		}
	}
	before := syncs.Load()
	if before > 1 {
		t.Errorf("four observations took %d syncs, want at most the one deferred sync", before)
	}
	if _, err := w.Write(Event{Type: Intent}); err != nil {
		t.Fatal(err)
	}
	w.mu.Lock()
	dirty := w.dirty
	w.mu.Unlock()
	if dirty || syncs.Load() <= before {
		t.Errorf("after the intent's Write: dirty %v, %d syncs; want everything synced", dirty, syncs.Load())
	}
}

// Events that do not sync at once are synced within SyncDelay, by the
// timer, when nothing else comes; Close syncs what is left.
func TestObservationsAreSyncedSoon(t *testing.T) {
	var syncs atomic.Int32
	w, _ := countingWriter(&syncs, nil)
	if _, err := w.Write(Event{Type: Snapshot}); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for syncs.Load() == 0 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if syncs.Load() != 1 {
		t.Fatalf("a snapshot event left alone was synced %d times, want once by the timer", syncs.Load())
	}
	if _, err := w.Write(Event{Type: Note}); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	w.mu.Lock()
	dirty := w.dirty
	w.mu.Unlock()
	if dirty {
		t.Error("Close left written events unsynced")
	}
}

// A deferred sync that fails is not lost: the next Write says so.
func TestDeferredSyncFailureIsReported(t *testing.T) {
	var syncs atomic.Int32
	var fail atomic.Bool
	fail.Store(true)
	w, _ := countingWriter(&syncs, &fail)
	defer w.Close()
	if _, err := w.Write(Event{Type: Snapshot}); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for syncs.Load() == 0 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	fail.Store(false)
	if _, err := w.Write(Event{Type: Note}); err == nil {
		t.Error("the failed deferred sync was not reported by the next Write")
	}
	if _, err := w.Write(Event{Type: Note}); err != nil {
		t.Errorf("the failure was reported twice: %v", err)
	}
}

// A dry run's intents do not sync at once; the mode comes from the
// run_started event, also for a transcript opened to be continued.
func TestDryRunModeComesFromRunStarted(t *testing.T) {
	var syncs atomic.Int32
	w, _ := countingWriter(&syncs, nil)
	defer w.Close()
	if _, err := w.Write(Event{Type: RunStarted, Mode: ByDryRun}); err != nil {
		t.Fatal(err)
	}
	if !w.dryRun {
		t.Fatal("the run_started event of a dry run did not make the writer a dry run's")
	}
}
