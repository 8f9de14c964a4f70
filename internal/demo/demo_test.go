//go:build unix

package main

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pgrunbook/pgrunbook/internal/rehearse"
	"github.com/pgrunbook/pgrunbook/internal/transcript"
)

// TestMakeDemo runs what `make demo` runs (the Makefile's recipe, built
// and started as `go run` would) on a machine with PostgreSQL binaries
// and no running server: it must stage mixed, run the recommended
// playbooks unattended, say that it resolved the incident with zero
// collateral damage, append the scorecard to each transcript, and leave
// no process, port or directory behind.
func TestMakeDemo(t *testing.T) {
	t.Parallel()
	mk, err := os.ReadFile(filepath.Join("..", "..", "Makefile"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(mk), "\ndemo:\n\t$(GO) run ./internal/demo\n") {
		t.Fatal("make demo does not run ./internal/demo")
	}
	dir := t.TempDir()
	bin := filepath.Join(dir, "demo")
	build := exec.Command("go", "build", "-race", "-o", bin, ".")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("building the demo: %v\n%s", err, out)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin)
	cmd.Dir = dir
	cmd.Env = []string{
		"PATH=" + os.Getenv("PATH"),
		"HOME=" + dir,
		"PGRUNBOOK_TRANSCRIPT_DIR=" + filepath.Join(dir, "transcripts"),
	}
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err = cmd.Run()
	report := out.String()
	t.Logf("demo output:\n%s", report)
	var exit *exec.ExitError
	if err != nil && !errors.As(err, &exit) {
		t.Fatal(err)
	}
	if code := cmd.ProcessState.ExitCode(); code != 0 {
		t.Fatalf("exit %d, want 0\nstderr:\n%s", code, errOut.String())
	}
	for _, want := range []string{
		"pgrunbook rehearse mixed:",
		"lock chain: ", "(2 deep)",
		"0 failed transactions, 0 of 8 clients aborted",
		"RESOLVED with zero collateral damage",
		"checked: no server process, pgbench, port or directory of the sandbox is left",
	} {
		if !strings.Contains(report, want) {
			t.Errorf("the report lacks %q", want)
		}
	}
	if strings.Contains(report, "[FAIL]") {
		t.Errorf("the scorecard has a failed check")
	}

	files, _ := filepath.Glob(filepath.Join(dir, "transcripts", "*.jsonl"))
	if len(files) != 2 {
		t.Fatalf("transcripts %v, want one per playbook", files)
	}
	for _, p := range files {
		checkTranscript(t, p)
	}

	sb := rehearse.ParseSandboxInfo(report)
	if sb.Dir == "" || sb.PostmasterPID == 0 || sb.PgbenchPID == 0 || sb.Port == 0 {
		t.Fatalf("the report does not say what was started: %+v", sb)
	}
	if left := sb.Leftovers(); len(left) > 0 {
		t.Errorf("left behind: %v", left)
	}
}

// checkTranscript checks that a transcript is private, that its run
// finished with exit code 0, and that the scorecard follows.
func checkTranscript(t *testing.T, path string) {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("%s: mode %v, want 0600", path, fi.Mode().Perm())
	}
	rr, err := transcript.ReadFile(path)
	if err != nil || len(rr.Events) < 2 {
		t.Fatalf("%s: %v, %d events", path, err, len(rr.Events))
	}
	fin, note := rr.Events[len(rr.Events)-2], rr.Events[len(rr.Events)-1]
	if fin.Type != transcript.RunFinished || fin.ExitCode == nil || *fin.ExitCode != 0 {
		t.Errorf("%s: %+v, want run_finished with exit code 0", path, fin)
	}
	if note.Type != transcript.Note || note.Title != "scorecard" || !strings.Contains(note.Text, "RESOLVED with zero collateral damage") {
		t.Errorf("%s: last event %+v, want the scorecard", path, note)
	}
}
