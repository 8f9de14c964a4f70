package clitest

import (
	"bytes"
	"errors"
	"flag"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/rogpeppe/go-internal/testscript"

	"github.com/pgrunbook/pgrunbook/internal/cli"
)

var update = flag.Bool("update", false, "rewrite the goldens in the testscript files")

// scriptDir holds the testscript files.
const scriptDir = "../testdata/script"

func TestMain(m *testing.M) {
	testscript.Main(m, map[string]func(){
		"pgrunbook": func() { os.Exit(cli.Process()) },
	})
}

// TestScripts runs every testscript file. Each runs in a directory of its
// own ($WORK); $ROOT is the module's root, for the playbooks and
// transcripts kept in the repository.
func TestScripts(t *testing.T) {
	root, err := filepath.Abs("../../..")
	if err != nil {
		t.Fatal(err)
	}
	testscript.Run(t, testscript.Params{
		Dir:                 scriptDir,
		UpdateScripts:       *update,
		RequireExplicitExec: true,
		Setup: func(env *testscript.Env) error {
			env.Setenv("ROOT", root)
			env.Setenv("PGRUNBOOK_TRANSCRIPT_DIR", filepath.Join(env.WorkDir, "transcripts"))
			return nil
		},
		Cmds: map[string]func(ts *testscript.TestScript, neg bool, args []string){
			"exits": exits,
		},
	})
}

// exits runs a command and checks its exit code:
//
//	exits CODE pgrunbook ARGS...
//
// Its standard output and error are the script's stdout and stderr, as
// after exec.
func exits(ts *testscript.TestScript, neg bool, args []string) {
	if neg {
		ts.Fatalf("unsupported: ! exits (give the exit code)")
	}
	if len(args) < 2 {
		ts.Fatalf("usage: exits CODE COMMAND [ARGS...]")
	}
	want, err := strconv.Atoi(args[0])
	if err != nil {
		ts.Fatalf("exits: %q is not an exit code", args[0])
	}
	cmd := exec.Command(args[1], args[2:]...)
	cmd.Dir = ts.MkAbs(".")
	for _, name := range []string{"PATH", "HOME", "TMPDIR", "WORK", "ROOT", "PGRUNBOOK_TRANSCRIPT_DIR"} {
		cmd.Env = append(cmd.Env, name+"="+ts.Getenv(name))
	}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err = cmd.Run()
	got := 0
	var exit *exec.ExitError
	switch {
	case errors.As(err, &exit):
		got = exit.ExitCode()
	case err != nil:
		ts.Fatalf("exits: %v", err)
	}
	// Written before the check, so that a failure shows them.
	ts.Stdout().Write(stdout.Bytes())
	ts.Stderr().Write(stderr.Bytes())
	if got != want {
		ts.Fatalf("%s: exit %d, want %d\nstderr:\n%s", strings.Join(args[1:], " "), got, want, stderr.String())
	}
}

// TestScriptsCoverTheBadCatalogue: every file of the bad-input catalogue
// is validated by a script, so a new bad input cannot go untested.
func TestScriptsCoverTheBadCatalogue(t *testing.T) {
	bad, err := filepath.Glob("../../../testdata/playbooks/bad/*.yaml")
	if err != nil || len(bad) < 9 {
		t.Fatalf("bad-input catalogue: %d files, err %v", len(bad), err)
	}
	scripts, err := filepath.Glob(filepath.Join(scriptDir, "*.txtar"))
	if err != nil || len(scripts) == 0 {
		t.Fatalf("no scripts in %s: %v", scriptDir, err)
	}
	var all strings.Builder
	for _, s := range scripts {
		data, err := os.ReadFile(s)
		if err != nil {
			t.Fatal(err)
		}
		all.Write(data)
	}
	for _, f := range bad {
		rel := "testdata/playbooks/bad/" + filepath.Base(f)
		if !strings.Contains(all.String(), "exits 2 pgrunbook validate "+rel+"\n") {
			t.Errorf("no script runs pgrunbook validate %s", rel)
		}
	}
}
