package cli_test

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/rogpeppe/go-internal/testscript"

	"github.com/pgrunbook/pgrunbook/internal/cli"
	"github.com/pgrunbook/pgrunbook/internal/pg/pgtest"
)

// binary is the pgrunbook program the tests run: a copy of this test
// binary that testscript.Main puts on PATH under that name and that runs
// cli.Process, as cmd/pgrunbook does. It is built with the test binary
// (with -race under go test -race), so no separate build is needed.
var binary string

// programs are the programs testscript.Main puts on PATH besides
// pgrunbook, added by platform-specific test files.
var programs = map[string]func(){}

func TestMain(m *testing.M) {
	programs["pgrunbook"] = func() { os.Exit(cli.Process()) }
	testscript.Main(withServer{m}, programs)
}

// withServer runs the tests with the private PostgreSQL server of
// pgtest, once the program is on PATH.
type withServer struct{ m *testing.M }

func (w withServer) Run() int {
	path, err := exec.LookPath("pgrunbook")
	if err != nil {
		fmt.Fprintln(os.Stderr, "the pgrunbook test program is not on PATH:", err)
		return 1
	}
	binary = path
	return pgtest.Main(w.m)
}

// result is how one invocation of the binary ended.
type result struct {
	stdout, stderr string
	code           int
}

// pgrunbook runs the binary with args, without a terminal, with a clean
// environment plus env, in dir (a temporary directory if empty).
func pgrunbook(t *testing.T, dir string, env []string, args ...string) result {
	t.Helper()
	if dir == "" {
		dir = t.TempDir()
	}
	cmd := exec.Command(binary, args...)
	cmd.Dir = dir
	cmd.Env = append([]string{
		"PATH=" + os.Getenv("PATH"),
		"HOME=" + dir,
		"PGRUNBOOK_TRANSCRIPT_DIR=" + filepath.Join(dir, "transcripts"),
		"PGCONNECT_TIMEOUT=5",
	}, env...)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	code := 0
	var exit *exec.ExitError
	if errors.As(err, &exit) {
		code = exit.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return result{stdout: out.String(), stderr: errOut.String(), code: code}
}
