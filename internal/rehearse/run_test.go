//go:build unix

package rehearse

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestRunInterruptedWhileStaging cancels the rehearsal's context in the
// middle of staging, exactly when it reports that it starts staging the
// second culprit, as Ctrl-C does: Run must say so, run no playbook and
// leave no process, port or directory behind.
func TestRunInterruptedWhileStaging(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	ictx, interrupt := context.WithCancel(ctx)
	defer interrupt()
	out := &syncBuffer{trigger: "staging etl", fire: interrupt}
	sc, _ := Lookup("mixed")
	res, err := Run(ictx, Options{
		Scenario: sc, Clients: 2, Out: out,
		RunPlaybook: func(context.Context, PlaybookRun) (PlaybookResult, error) {
			t.Error("a playbook ran after the interrupt")
			return PlaybookResult{}, errors.New("interrupted before any playbook")
		},
	})
	t.Logf("output:\n%s", out.String())
	if !errors.Is(err, ErrInterrupted) || !errors.Is(err, context.Canceled) {
		t.Fatalf("Run after an interrupt returned %v, want ErrInterrupted wrapping context.Canceled", err)
	}
	if res.ExitCode != 130 || res.Scorecard != nil {
		t.Errorf("exit code %d, scorecard %v; want 130 and none", res.ExitCode, res.Scorecard)
	}
	if !strings.Contains(out.String(), "INTERRUPTED during staging") {
		t.Errorf("the report does not say it was interrupted during staging")
	}
	if res.Sandbox.PostmasterPID == 0 || res.Sandbox.PgbenchPID == 0 {
		t.Fatalf("sandbox %+v: the interrupt came before the cluster and the load were started", res.Sandbox)
	}
	if got := ParseSandboxInfo(out.String()); got != res.Sandbox {
		t.Errorf("ParseSandboxInfo of the report = %+v, want %+v", got, res.Sandbox)
	}
	assertNothingLeft(t, res.Sandbox)
}

// assertNothingLeft checks that no process, port or directory of a
// rehearsal's sandbox remains.
func assertNothingLeft(t *testing.T, sb SandboxInfo) {
	t.Helper()
	if left := sb.Leftovers(); len(left) > 0 {
		t.Errorf("left behind: %v", left)
	}
}

// syncBuffer collects output; once it contains trigger, it calls fire,
// synchronously, from the Write that completed it.
type syncBuffer struct {
	mu      sync.Mutex
	b       bytes.Buffer
	trigger string
	fire    func()
	fired   bool
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	n, err := s.b.Write(p)
	if s.trigger != "" && !s.fired && bytes.Contains(s.b.Bytes(), []byte(s.trigger)) {
		s.fired = true
		s.fire()
	}
	return n, err
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
