//go:build unix

package cli_test

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// hangupMessage is run_finished's message after SIGHUP.
const hangupMessage = "the operator's terminal hung up (SIGHUP): the run stopped rather than go on unattended"

// TestSIGHUPDuringVerifyEndsCleanly: the operator's SSH connection drops
// while an unattended run polls its verify. The run ends interrupted with
// exit 130, says the terminal hung up, never goes on to terminate, and its
// transcript replays.
func TestSIGHUPDuringVerifyEndsCleanly(t *testing.T) {
	t.Parallel()
	run := signalDuringVerify(t, syscall.SIGHUP, hangupMessage)
	checkReplays(t, run.path)
}

// TestInteractiveSIGHUPAtPrompt: SIGHUP while the confirmation waits for
// an answer wakes the prompt; the run ends interrupted (exit 130), nothing
// is signalled, the terminal is restored and the transcript replays.
func TestInteractiveSIGHUPAtPrompt(t *testing.T) {
	t.Parallel()
	inc := stageIncident(t, 2)
	r := startInTerminal(t, runArgs(inc.db)...)
	r.awaitConfirm(2)
	if err := r.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	if code := r.wait(); code != 130 {
		r.fatalf("exit code %d, want 130 (interrupted)", code)
	}
	evs := r.events()
	checkNoActions(t, evs)
	checkFinished(t, evs, "interrupted", 130)
	if msg := evs[len(evs)-1].Message; msg != hangupMessage {
		t.Errorf("run_finished says %q, want %q", msg, hangupMessage)
	}
	if op := evs[0].Operator; op == nil || !strings.HasPrefix(op.Terminal, "/dev/") {
		t.Errorf("run_started operator %+v: want the terminal device named", op)
	}
	for _, s := range inc.long {
		checkRunning(t, s)
	}
	checkReplays(t, r.transcriptFile())
}

// TestInteractiveTerminalHangsUp: the terminal really goes away (its
// master side is closed, as sshd does when the connection drops): the
// kernel hangs it up and sends SIGHUP, the prompt's reads fail. The run
// still ends interrupted with exit 130 and a complete transcript.
func TestInteractiveTerminalHangsUp(t *testing.T) {
	t.Parallel()
	inc := stageIncident(t, 2)
	r := startInTerminal(t, runArgs(inc.db)...)
	r.awaitConfirm(2)
	// Closing the master side hangs up the terminal: the kernel sends
	// SIGHUP to pgrunbook, its session's leader, and fails its reads.
	_ = r.ptmx.Close()
	select {
	case <-r.exited:
	case <-time.After(exitDeadline):
		r.fatalf("pgrunbook did not exit within %s of its terminal hanging up", exitDeadline)
	}
	if code := r.cmd.ProcessState.ExitCode(); code != 130 {
		t.Fatalf("exit %v, want 130", r.cmd.ProcessState)
	}
	evs := r.events()
	checkNoActions(t, evs)
	checkFinished(t, evs, "interrupted", 130)
	if msg := evs[len(evs)-1].Message; msg != hangupMessage {
		t.Errorf("run_finished says %q, want %q", msg, hangupMessage)
	}
	for _, s := range inc.long {
		checkRunning(t, s)
	}
	checkReplays(t, r.transcriptFile())
}

// transcriptFile is the path of the run's one transcript.
func (r *terminalRun) transcriptFile() string {
	r.t.Helper()
	files, _ := filepath.Glob(filepath.Join(r.transcripts, "*.jsonl"))
	if len(files) != 1 {
		r.t.Fatalf("want one transcript in %s, found %v", r.transcripts, files)
	}
	return files[0]
}

// checkReplays replays the transcript at path: exit 0 and the run's end
// shown.
func checkReplays(t *testing.T, path string) {
	t.Helper()
	res := pgrunbook(t, "", nil, "replay", path)
	if res.code != 0 {
		t.Fatalf("replay %s: exit %d\n%s%s", path, res.code, res.stdout, res.stderr)
	}
	if strings.Contains(res.stdout, "the run did not finish") {
		t.Errorf("replay says the run did not finish:\n%s", res.stdout)
	}
	if _, err := os.Stat(path); err != nil {
		t.Fatal(err)
	}
}

// pollable returns f as a non-blocking, pollable file (a duplicate of its
// descriptor) and closes f: reads of it can be interrupted by Close.
func pollable(f *os.File) (*os.File, error) {
	defer f.Close()
	// Close-on-exec, or every pgrunbook started later would hold the
	// master open too.
	syscall.ForkLock.RLock()
	fd, err := syscall.Dup(int(f.Fd()))
	if err == nil {
		syscall.CloseOnExec(fd)
	}
	syscall.ForkLock.RUnlock()
	if err != nil {
		return nil, err
	}
	if err := syscall.SetNonblock(fd, true); err != nil {
		syscall.Close(fd)
		return nil, err
	}
	return os.NewFile(uintptr(fd), f.Name()), nil
}
