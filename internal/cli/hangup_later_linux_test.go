package cli_test

import (
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/pgrunbook/pgrunbook/engine"
)

// TestLaterHangupsAreCaughtNotIgnored: after the first SIGHUP a second
// one does not end the process, and a program started after it (a
// --notify command) does not inherit SIGHUP ignored.
func TestLaterHangupsAreCaughtNotIgnored(t *testing.T) {
	t.Parallel()
	path, err := exec.LookPath("hangupcheck")
	if err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(path).CombinedOutput()
	if err != nil {
		t.Fatalf("the program ended with %v after its second hangup:\n%s", err, out)
	}
	if !strings.Contains(string(out), "cause: "+engine.ErrHangup.Error()) {
		t.Errorf("the first hangup was not the context's cause:\n%s", out)
	}
	var ignored uint64
	found := false
	for _, line := range strings.Split(string(out), "\n") {
		if v, ok := strings.CutPrefix(line, "SigIgn:"); ok {
			if ignored, err = strconv.ParseUint(strings.TrimSpace(v), 16, 64); err != nil {
				t.Fatal(err)
			}
			found = true
		}
	}
	if !found {
		t.Fatalf("no SigIgn line in the child's status:\n%s", out)
	}
	if ignored&(1<<(syscall.SIGHUP-1)) != 0 {
		t.Errorf("the child started after a hangup has SIGHUP ignored (SigIgn %016x)", ignored)
	}
}
