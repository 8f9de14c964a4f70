package cli_test

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/pgrunbook/pgrunbook/internal/pg/pgtest"
)

// binary is the pgrunbook binary under test, built once by TestMain.
var binary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "pgrunbook-cli-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binary = filepath.Join(dir, "pgrunbook")
	build := exec.Command("go", "build", "-race", "-o", binary, "github.com/pgrunbook/pgrunbook/cmd/pgrunbook")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "building pgrunbook:", err)
		os.Exit(1)
	}
	code := pgtest.Main(m)
	os.RemoveAll(dir)
	os.Exit(code)
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
