package cli

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/pgrunbook/pgrunbook/internal/playbook"
	"github.com/pgrunbook/pgrunbook/internal/transcript"
)

// gitTimeout bounds each git command provenance runs: a hung network file
// system or a huge repository must not hold up an incident.
const gitTimeout = 3 * time.Second

// builtinPrefix starts the Path of a playbook embedded in the binary.
const builtinPrefix = "builtin:"

// playbookProvenance says where pb came from: for a built-in the binary's
// version; for a file in a git work tree the HEAD commit and whether the
// file differs from it; otherwise why git could not say.
func playbookProvenance(ctx context.Context, pb *playbook.Playbook) *transcript.Provenance {
	if strings.HasPrefix(pb.Path, builtinPrefix) {
		return &transcript.Provenance{Source: transcript.SourceBuiltin, Version: version()}
	}
	abs, err := filepath.Abs(pb.Path)
	if err != nil {
		return &transcript.Provenance{Source: transcript.SourceFile, Problem: err.Error()}
	}
	dir, base := filepath.Split(abs)
	out, err := git(ctx, dir, "rev-parse", "--is-inside-work-tree", "HEAD")
	if err != nil {
		return &transcript.Provenance{Source: transcript.SourceFile, Problem: err.Error()}
	}
	lines := strings.Fields(out)
	if len(lines) != 2 || lines[0] != "true" {
		return &transcript.Provenance{Source: transcript.SourceFile, Problem: "not in a git work tree"}
	}
	p := &transcript.Provenance{Source: transcript.SourceGit, Commit: lines[1]}
	// Modified, staged, untracked and ignored all show as a line.
	status, err := git(ctx, dir, "status", "--porcelain", "--ignored", "--untracked-files=all", "--", base)
	if err != nil {
		return &transcript.Provenance{Source: transcript.SourceFile, Commit: p.Commit, Problem: err.Error()}
	}
	p.Uncommitted = strings.TrimSpace(status) != ""
	return p
}

// git runs git in dir, bounded by gitTimeout, and returns its output.
// It never takes the index lock (GIT_OPTIONAL_LOCKS=0), so it cannot get
// in the way of someone working in the repository.
func git(ctx context.Context, dir string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, gitTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, "git", append([]string{"-C", dir}, args...)...)
	cmd.Env = append(os.Environ(), "GIT_OPTIONAL_LOCKS=0", "LC_ALL=C")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	cmd.WaitDelay = time.Second
	err := cmd.Run()
	switch {
	case errors.Is(err, exec.ErrNotFound):
		return "", errors.New("git is not installed")
	case ctx.Err() != nil:
		return "", fmt.Errorf("git did not answer within %s", gitTimeout)
	case err != nil:
		msg := strings.TrimSpace(stderr.String())
		if i := strings.IndexByte(msg, '\n'); i >= 0 {
			msg = msg[:i]
		}
		if msg == "" {
			msg = err.Error()
		}
		return "", fmt.Errorf("git %s: %s", args[0], msg)
	}
	return stdout.String(), nil
}

// checkCommitted refuses a playbook that --require-committed does not
// allow: one with uncommitted changes, or that git cannot describe.
// Built-in playbooks are part of the binary and always allowed.
func checkCommitted(p *transcript.Provenance, path string) error {
	switch {
	case p.Source == transcript.SourceBuiltin:
		return nil
	case p.Source != transcript.SourceGit:
		return usageErrorf("--require-committed: %s is not a committed file in a git work tree (%s); nothing was run", path, p.Problem)
	case p.Uncommitted:
		return usageErrorf("--require-committed: %s has uncommitted changes (HEAD is %s); commit them or run without the flag; nothing was run", path, shortCommit(p.Commit))
	}
	return nil
}

func shortCommit(c string) string {
	if len(c) > 12 {
		return c[:12]
	}
	return c
}
