package cli_test

import (
	"os/exec"
	"slices"
	"strings"
	"testing"

	"github.com/pgrunbook/pgrunbook/playbooks"
)

// complete runs pgrunbook's bash completion in a real bash for the words
// typed so far (the last is being completed) and returns what it offers.
func complete(t *testing.T, words ...string) []string {
	t.Helper()
	script := `source <("$PGRUNBOOK" completion bash) || exit 1
COMP_WORDS=("$@"); COMP_CWORD=$(( $# - 1 ))
_pgrunbook
printf '%s\n' "${COMPREPLY[@]}"`
	cmd := exec.Command("bash", append([]string{"-c", script, "bash"}, words...)...)
	cmd.Env = []string{"PGRUNBOOK=" + binary, "PATH=/usr/bin:/bin"}
	cmd.Dir = t.TempDir()
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("bash completion of %q: %v\n%s", words, err, out)
	}
	return strings.Fields(string(out))
}

func TestBashCompletesPlaybooksScenariosCommandsAndFlags(t *testing.T) {
	t.Parallel()
	if got := complete(t, "pgrunbook", "run", "unblock"); !slices.Equal(got, []string{"unblock-lock-chain"}) {
		t.Errorf("run unblock<TAB> offers %q, want unblock-lock-chain", got)
	}
	if got := complete(t, "pgrunbook", "explain", ""); len(got) != len(playbooks.Names()) {
		t.Errorf("explain <TAB> offers %q, want the %d built-in playbooks", got, len(playbooks.Names()))
	}
	if got := complete(t, "pgrunbook", "rehearse", "--playbook", "cancel-l"); !slices.Equal(got, []string{"cancel-long-queries"}) {
		t.Errorf("rehearse --playbook cancel-l<TAB> offers %q", got)
	}
	if got := complete(t, "pgrunbook", "rehearse", "long-q"); !slices.Equal(got, []string{"long-query"}) {
		t.Errorf("rehearse long-q<TAB> offers %q, want the scenario long-query", got)
	}
	if got := complete(t, "pgrunbook", "re"); !slices.Equal(got, []string{"rehearse", "replay", "report", "resume"}) {
		t.Errorf("re<TAB> offers %q", got)
	}
	if got := complete(t, "pgrunbook", "run", "--dry"); !slices.Equal(got, []string{"--dry-run"}) {
		t.Errorf("run --dry<TAB> offers %q", got)
	}
	if got := complete(t, "pgrunbook", "list", "--output", ""); !slices.Equal(got, []string{"text", "json"}) {
		t.Errorf("list --output <TAB> offers %q", got)
	}
	if got := complete(t, "pgrunbook", "run", "-d", "unbl"); len(got) != 0 {
		t.Errorf("run -d unbl<TAB> offers %q: a DSN is not a playbook", got)
	}
}
