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

// needShell returns the path of a shell the completion tests run. A
// missing shell fails the test, in CI and locally, as a missing
// PostgreSQL does: .ci/run installs zsh and fish.
func needShell(t *testing.T, name string) string {
	t.Helper()
	path, err := exec.LookPath(name)
	if err != nil {
		t.Fatalf("%s is not installed: the completion tests run it (apt-get install %s; .ci/run installs it)", name, name)
	}
	return path
}

// In a real fish, the generated script completes commands, built-in
// playbook names and flags the way fish asks for them (complete -C).
func TestFishCompletesPlaybooksCommandsAndFlags(t *testing.T) {
	t.Parallel()
	fish := needShell(t, "fish")
	complete := func(line string) []string {
		t.Helper()
		cmd := exec.Command(fish, "--no-config", "-c", `"$PGRUNBOOK" completion fish | source; complete -C "$LINE"`)
		cmd.Env = []string{"PGRUNBOOK=" + binary, "LINE=" + line, "PATH=/usr/bin:/bin", "HOME=" + t.TempDir()}
		cmd.Dir = t.TempDir()
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("fish completion of %q: %v\n%s", line, err, out)
		}
		var got []string
		for _, l := range strings.Split(strings.TrimSpace(string(out)), "\n") {
			if word, _, _ := strings.Cut(l, "\t"); word != "" {
				got = append(got, word)
			}
		}
		return got
	}
	if got := complete("pgrunbook run unblock"); !slices.Equal(got, []string{"unblock-lock-chain"}) {
		t.Errorf("run unblock<TAB> offers %q, want unblock-lock-chain", got)
	}
	if got := complete("pgrunbook re"); !slices.Equal(got, []string{"rehearse", "replay", "report", "resume"}) {
		t.Errorf("re<TAB> offers %q", got)
	}
	if got := complete("pgrunbook run --dry"); !slices.Contains(got, "--dry-run") {
		t.Errorf("run --dry<TAB> offers %q, want --dry-run among them", got)
	}
}

// In a real zsh, the generated script loads after compinit and registers
// its completion function for pgrunbook, which offers the built-in
// playbooks for run (zsh's completion system then matches them against
// what was typed).
func TestZshLoadsTheCompletion(t *testing.T) {
	t.Parallel()
	zsh := needShell(t, "zsh")
	script := `autoload -U +X compinit && compinit -u -D || exit 1
source <("$PGRUNBOOK" completion zsh) || exit 1
print -r -- "registered: ${_comps[pgrunbook]}"
emulate sh -c 'COMP_WORDS=(pgrunbook run unblock); COMP_CWORD=2; _pgrunbook; printf "%s\n" "${COMPREPLY[@]}"'`
	cmd := exec.Command(zsh, "-f", "-c", script)
	cmd.Env = []string{"PGRUNBOOK=" + binary, "PATH=/usr/bin:/bin", "HOME=" + t.TempDir()}
	cmd.Dir = t.TempDir()
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("zsh: %v\n%s", err, out)
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	if len(lines) == 0 || !strings.Contains(lines[0], "_pgrunbook") {
		t.Fatalf("zsh did not register _pgrunbook for pgrunbook:\n%s", out)
	}
	if !slices.Contains(lines[1:], "unblock-lock-chain") || !slices.Contains(lines[1:], "cancel-long-queries") {
		t.Errorf("zsh's completion of run offers %q, want the built-in playbooks", lines[1:])
	}
}
