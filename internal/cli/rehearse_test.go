//go:build unix

package cli_test

// Tests of `pgrunbook rehearse`: the real binary stages each scenario on a
// sandbox cluster of its own, under pgbench load, and scores the run.
// The rehearsals that need no interaction run all at once (see
// rehearsals), since each spends most of its time waiting.

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/pgrunbook/pgrunbook/internal/activity"
	"github.com/pgrunbook/pgrunbook/internal/rehearse"
	"github.com/pgrunbook/pgrunbook/internal/transcript"
)

const (
	// rehearsalDeadline bounds one rehearsal; a guard against hangs, not
	// a timing assertion.
	rehearsalDeadline = 3 * time.Minute
	// concurrentRehearsals bounds how many rehearsals run at once.
	concurrentRehearsals = 6
	// wrongPlaybook terminates everything active, with no real limit.
	wrongPlaybook = "testdata/playbooks/good/terminate-all-active.yaml"
)

// rehearsalRun is one run of `pgrunbook rehearse` and what its output
// says it started.
type rehearsalRun struct {
	name string
	args []string
	dir  string // working directory; transcripts go to dir/transcripts
	res  result
	err  error // the binary could not be run
	// sandbox and staged (application → pid) are read from the output.
	sandbox rehearse.SandboxInfo
	staged  map[string]int
}

// reStagedRow matches a row of the staged-sessions table: pid, application.
var reStagedRow = regexp.MustCompile(`(?m)^  (\d+) +(\S+) `)

// parseRehearsal reads what a rehearsal's output says it started: the
// sandbox, and the staged sessions' pids by application.
func parseRehearsal(out string) (rehearse.SandboxInfo, map[string]int) {
	staged := map[string]int{}
	for _, m := range reStagedRow.FindAllStringSubmatch(out, -1) {
		pid, _ := strconv.Atoi(m[1])
		staged[m[2]] = pid
	}
	return rehearse.ParseSandboxInfo(out), staged
}

// runRehearsal runs the binary without a terminal in a new directory
// under root. It does not fail the test itself, so that it can run on
// any goroutine.
func runRehearsal(root, name string, args ...string) *rehearsalRun {
	r := &rehearsalRun{name: name, args: args, dir: filepath.Join(root, name)}
	if r.err = os.MkdirAll(r.dir, 0o700); r.err != nil {
		return r
	}
	ctx, cancel := context.WithTimeout(context.Background(), rehearsalDeadline)
	defer cancel()
	cmd := exec.CommandContext(ctx, binary, args...)
	cmd.Dir = r.dir
	cmd.Env = rehearsalEnv(r.dir)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	var exit *exec.ExitError
	switch {
	case errors.As(err, &exit):
		r.res.code = exit.ExitCode()
	case err != nil:
		r.err = err
	}
	r.res.stdout, r.res.stderr = out.String(), errOut.String()
	r.sandbox, r.staged = parseRehearsal(r.res.stdout)
	return r
}

// rehearsalEnv is a clean environment for the binary, with transcripts
// in dir/transcripts.
func rehearsalEnv(dir string) []string {
	return []string{
		"PATH=" + os.Getenv("PATH"),
		"HOME=" + dir,
		"PGRUNBOOK_TRANSCRIPT_DIR=" + filepath.Join(dir, "transcripts"),
	}
}

// cliScenarios are the scenarios the command's tests rehearse through
// the binary, with --yes and with --dry-run. The incident library's
// scenarios are rehearsed, playbook against staged incident, in
// internal/rehearse (TestIncidentLibraryScenariosResolve and the tests
// next to it); here one of them goes through the binary
// (TestRehearseConnectionExhaustion).
var cliScenarios = []string{"long-query", "stubborn-query", "idle-in-transaction", "client-not-reading", "mixed"}

// cliPlaybooks are the --playbook flags a scenario of cliScenarios is
// rehearsed with instead of its recommended playbooks: client-not-reading
// recommends unstick-client-write, and cancel-long-queries must keep
// resolving it too.
var cliPlaybooks = map[string][]string{"client-not-reading": {"--playbook", "cancel-long-queries"}}

// The rehearsals that need no interaction, run once for all the tests
// that check them.
var (
	batchOnce sync.Once
	batch     map[string]*rehearsalRun
)

// rehearsals runs, the first time it is called, every scenario of
// cliScenarios with --yes and with --dry-run, and the wrong playbook, at
// most concurrentRehearsals at a time, and returns them by name.
func rehearsals(t *testing.T) map[string]*rehearsalRun {
	t.Helper()
	batchOnce.Do(func() {
		// Next to the binary, which TestMain removes with its directory.
		root, err := os.MkdirTemp(filepath.Dir(binary), "rehearsals-")
		if err != nil {
			t.Fatal(err)
		}
		specs := map[string][]string{
			"wrong-playbook": {"rehearse", "long-query", "--yes", "--playbook", filepath.Join(absRoot(t), wrongPlaybook),
				"--transcript", filepath.Join("transcripts", "wrong.jsonl")},
		}
		for _, sc := range cliScenarios {
			extra := cliPlaybooks[sc]
			specs[sc+"-yes"] = append([]string{"rehearse", sc, "--yes"}, extra...)
			specs[sc+"-dry-run"] = append([]string{"rehearse", "--dry-run", sc}, extra...)
		}
		batch = map[string]*rehearsalRun{}
		var mu sync.Mutex
		var wg sync.WaitGroup
		slots := make(chan struct{}, concurrentRehearsals)
		for name, args := range specs {
			wg.Go(func() {
				slots <- struct{}{}
				defer func() { <-slots }()
				r := runRehearsal(root, name, args...)
				mu.Lock()
				batch[name] = r
				mu.Unlock()
			})
		}
		wg.Wait()
	})
	if batch == nil {
		t.Fatal("the rehearsals could not be run")
	}
	return batch
}

// get returns a rehearsal of the batch, failing if it did not run.
func get(t *testing.T, name string) *rehearsalRun {
	t.Helper()
	r := rehearsals(t)[name]
	if r == nil || r.err != nil {
		t.Fatalf("rehearsal %s could not be run: %+v", name, r)
	}
	return r
}

// fatalf reports a failed expectation of a rehearsal with its output.
func (r *rehearsalRun) fatalf(t *testing.T, format string, args ...any) {
	t.Helper()
	t.Fatalf("pgrunbook %s: %s\n--- stdout ---\n%s\n--- stderr ---\n%s", strings.Join(r.args, " "), fmt.Sprintf(format, args...), r.res.stdout, r.res.stderr)
}

// transcripts reads the rehearsal's transcripts, oldest first.
func (r *rehearsalRun) transcripts(t *testing.T) [][]transcript.Event {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(r.dir, "transcripts", "*.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(files)
	var out [][]transcript.Event
	for _, p := range files {
		res, err := transcript.ReadFile(p)
		if err != nil || res.Truncated || len(res.Events) == 0 {
			t.Fatalf("transcript %s: %v (truncated %v, %d events)", p, err, res.Truncated, len(res.Events))
		}
		out = append(out, res.Events)
	}
	return out
}

// signals returns, per pid, the functions the transcripts record with
// the given outcome, in order.
func signals(runs [][]transcript.Event, outcome activity.Outcome) map[int][]activity.Function {
	out := map[int][]activity.Function{}
	for _, evs := range runs {
		for _, ev := range evs {
			if ev.Type == transcript.Action && activity.Outcome(ev.Outcome) == outcome {
				out[ev.PID] = append(out[ev.PID], ev.Function)
			}
		}
	}
	return out
}

// checkScorecardNote checks that each transcript ends with the scorecard
// as a note after run_finished, and that it holds want.
func checkScorecardNote(t *testing.T, r *rehearsalRun, runs [][]transcript.Event, want string) {
	t.Helper()
	for i, evs := range runs {
		last := evs[len(evs)-1]
		if last.Type != transcript.Note || last.Title != "scorecard" || !strings.Contains(last.Text, want) {
			r.fatalf(t, "transcript %d does not end with the scorecard holding %q: last event %+v", i+1, want, last)
		}
		if prev := evs[len(evs)-2]; prev.Type != transcript.RunFinished {
			r.fatalf(t, "transcript %d: the scorecard does not follow run_finished but %q", i+1, prev.Type)
		}
	}
}

// checkNothingLeft checks that the rehearsal started a sandbox and left
// nothing of it behind.
func checkNothingLeft(t *testing.T, r *rehearsalRun) {
	t.Helper()
	sb := r.sandbox
	if sb.Dir == "" || sb.PostmasterPID == 0 || sb.Port == 0 || sb.SocketDir == "" {
		r.fatalf(t, "the output does not say what sandbox was started: %+v", sb)
	}
	if left := sb.Leftovers(); len(left) > 0 {
		r.fatalf(t, "left behind: %v", left)
	}
}

// wantSignals is what a good run sends each culprit, by application.
var wantSignals = map[string][]activity.Function{
	"reporting":        {activity.Cancel},
	"etl":              {activity.Cancel, activity.Terminate},
	"forgot-to-commit": {activity.Terminate},
	"export":           {activity.Terminate}, // cancel-long-queries sends ClientWrite straight to terminate
}

// TestRehearseEveryScenarioYes: every scenario's recommended playbook,
// unattended, resolves it with zero collateral damage: exit 0, each
// culprit stopped by the right signals (cancel for the long query,
// terminate after an ignored cancel for the stubborn query and the
// client that stopped reading, terminate for the idle transaction), no
// other session signalled, no pgbench client aborted, the scorecard in
// every transcript, nothing left running.
func TestRehearseEveryScenarioYes(t *testing.T) {
	t.Parallel()
	for _, sc := range cliScenarios {
		t.Run(sc, func(t *testing.T) {
			r := get(t, sc+"-yes")
			if r.res.code != 0 {
				r.fatalf(t, "exit %d, want 0", r.res.code)
			}
			for _, want := range []string{"RESOLVED with zero collateral damage", "0 failed transactions, 0 of 8 clients aborted", "Time to mitigate: "} {
				if !strings.Contains(r.res.stdout, want) {
					r.fatalf(t, "the report lacks %q", want)
				}
			}
			if strings.Contains(r.res.stdout, "[FAIL]") {
				r.fatalf(t, "the scorecard has a failed check")
			}
			runs := r.transcripts(t)
			scenario, _ := rehearse.Lookup(sc)
			want := len(scenario.Playbooks)
			if flags := cliPlaybooks[sc]; len(flags) > 0 {
				want = len(flags) / 2 // --playbook NAME, repeated
			}
			if len(runs) != want {
				r.fatalf(t, "%d transcripts, want one per playbook (%d)", len(runs), want)
			}
			checkScorecardNote(t, r, runs, "RESOLVED with zero collateral damage")
			if slices.Contains(scenario.Cast, rehearse.IdleInTransaction) && !strings.Contains(r.res.stdout, "(2 deep)") {
				r.fatalf(t, "the report does not show a lock chain two deep")
			}
			sent := signals(runs, activity.Signalled)
			culprits := 0
			for app, pid := range r.staged {
				want, culprit := wantSignals[app]
				if !culprit {
					if len(sent[pid]) > 0 {
						r.fatalf(t, "%s (pid %d) is not a culprit but was sent %v", app, pid, sent[pid])
					}
					continue
				}
				culprits++
				if !slices.Equal(sent[pid], want) {
					r.fatalf(t, "%s (pid %d) was sent %v, want %v", app, pid, sent[pid], want)
				}
				delete(sent, pid)
			}
			if culprits == 0 || len(sent) > 0 {
				r.fatalf(t, "%d culprits found in the output; signals to sessions that were not staged: %v", culprits, sent)
			}
			checkNothingLeft(t, r)
		})
	}
}

// TestRehearseEveryScenarioDryRun: a dry-run rehearsal of every scenario
// signals nothing, finds every culprit still there afterwards, says "not
// resolved (dry-run)" and exits 0, since the dry run itself worked.
func TestRehearseEveryScenarioDryRun(t *testing.T) {
	t.Parallel()
	for _, sc := range cliScenarios {
		t.Run(sc, func(t *testing.T) {
			r := get(t, sc+"-dry-run")
			if r.res.code != 0 {
				r.fatalf(t, "exit %d, want 0 (a dry run that worked)", r.res.code)
			}
			if !strings.Contains(r.res.stdout, "DRY RUN, nothing was signalled: ") || strings.Contains(r.res.stdout, "[FAIL]") {
				r.fatalf(t, "the scorecard does not say \"DRY RUN, nothing was signalled: \" with every check passed")
			}
			runs := r.transcripts(t)
			checkScorecardNote(t, r, runs, "DRY RUN, nothing was signalled: ")
			if sent := signals(runs, activity.Signalled); len(sent) > 0 {
				r.fatalf(t, "the dry run signalled %v", sent)
			}
			recorded := signals(runs, activity.DryRun)
			for app, pid := range r.staged {
				if _, culprit := wantSignals[app]; !culprit {
					continue
				}
				line := fmt.Sprintf("[ok]   %s (pid %d): still there, untouched", app, pid)
				if !strings.Contains(r.res.stdout, line) {
					r.fatalf(t, "the scorecard does not say %q", line)
				}
				if len(recorded[pid]) == 0 {
					r.fatalf(t, "the dry run recorded no action for the culprit %s (pid %d)", app, pid)
				}
			}
			checkNothingLeft(t, r)
		})
	}
}

// TestRehearseWrongPlaybookIsCollateral: a playbook that terminates
// every active session with no real limit is scored as collateral
// damage (the report's session and the backup are lost), exit 1.
func TestRehearseWrongPlaybookIsCollateral(t *testing.T) {
	t.Parallel()
	r := get(t, "wrong-playbook")
	if r.res.code != 1 {
		r.fatalf(t, "exit %d, want 1", r.res.code)
	}
	for _, want := range []string{"COLLATERAL DAMAGE", "[FAIL] pg_dump: pid", "NOT CULPRITS: terminate pg_dump", "where a cancel would have kept it"} {
		if !strings.Contains(r.res.stdout, want) {
			r.fatalf(t, "the scorecard lacks %q", want)
		}
	}
	if _, err := os.Stat(filepath.Join(r.dir, "transcripts", "wrong.jsonl")); err != nil {
		r.fatalf(t, "no transcript where --transcript said: %v", err)
	}
	runs := r.transcripts(t)
	checkScorecardNote(t, r, runs, "COLLATERAL DAMAGE")
	if sent := signals(runs, activity.Signalled); !slices.Equal(sent[r.staged["pg_dump"]], []activity.Function{activity.Terminate}) {
		r.fatalf(t, "the backup (pid %d) was sent %v, want a terminate", r.staged["pg_dump"], sent[r.staged["pg_dump"]])
	}
	checkNothingLeft(t, r)
}

func TestRehearseListAndUsage(t *testing.T) {
	t.Parallel()
	list := pgrunbook(t, "", nil, "rehearse", "--list")
	if list.code != 0 {
		t.Fatalf("rehearse --list: exit %d %s", list.code, list.stderr)
	}
	staged, unstaged, _ := strings.Cut(strings.TrimSpace(list.stdout), "\n\nNot rehearsable: ")
	lines := strings.Split(staged, "\n")
	if len(lines) != len(rehearse.Names()) {
		t.Errorf("--list printed %d lines, want one per scenario:\n%s", len(lines), list.stdout)
	}
	for i, sc := range rehearse.Scenarios() {
		if i < len(lines) && (!strings.HasPrefix(lines[i], sc.Name+" ") || !strings.Contains(lines[i], sc.Playbooks[0])) {
			t.Errorf("line %d %q does not name %s and its playbook", i+1, lines[i], sc.Name)
		}
	}
	for _, u := range rehearse.NotStaged() {
		if !regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(u.Name) + ` +` + regexp.QuoteMeta(u.Reason+" (playbook: "+u.Playbook+")") + `$`).MatchString(unstaged) {
			t.Errorf("--list does not say that %s cannot be staged, and why:\n%s", u.Name, list.stdout)
		}
	}
	if h := pgrunbook(t, "", nil, "rehearse", "--help"); h.code != 0 || !strings.HasPrefix(h.stdout, "Usage: pgrunbook rehearse") ||
		!strings.Contains(h.stdout, "Exit codes: 0 resolved with zero collateral damage, or a dry run") {
		t.Errorf("rehearse --help: exit %d\n%s", h.code, h.stdout)
	}

	for _, args := range [][]string{
		{"rehearse"},
		{"rehearse", "no-such-scenario", "--yes"},
		{"rehearse", "long-query"}, // no terminal, neither --yes nor --dry-run
		{"rehearse", "long-query", "--yes", "--dry-run"},
		{"rehearse", "long-query", "--yes", "--clients", "-1"},
		{"rehearse", "long-query", "--yes", "--set", "nope=1"},
		{"rehearse", "long-query", "--yes", "--set", "min_runtime=soon"},
		{"rehearse", "long-query", "--yes", "--playbook", "no-such-playbook"},
		{"rehearse", "mixed", "--yes", "--transcript", "one.jsonl"},
		{"rehearse", "long-query", "mixed", "--yes"},
	} {
		r := pgrunbook(t, "", nil, args...)
		if r.code != 2 || r.stderr == "" {
			t.Errorf("pgrunbook %v: exit %d, want 2 with an explanation\n%s", args, r.code, r.stderr)
		}
		if strings.Contains(r.stdout, "== Sandbox") {
			t.Errorf("pgrunbook %v started a sandbox before refusing:\n%s", args, r.stdout)
		}
	}
	r := pgrunbook(t, "", nil, "rehearse", "long-query")
	if !strings.Contains(r.stderr, "--yes") || !strings.Contains(r.stderr, "--dry-run") {
		t.Errorf("the no-terminal refusal should name --yes and --dry-run: %s", r.stderr)
	}

	// --stop refuses a directory that is not a kept sandbox, and leaves it.
	dir := t.TempDir()
	if r := pgrunbook(t, "", nil, "rehearse", "--stop", dir); r.code != 1 || !strings.Contains(r.stderr, "not a sandbox left by pgrunbook rehearse --keep") {
		t.Errorf("--stop on a plain directory: exit %d\n%s", r.code, r.stderr)
	}
	if _, err := os.Stat(dir); err != nil {
		t.Errorf("--stop removed a directory it did not make: %v", err)
	}
}

// TestRehearseConnectionExhaustion goes through the binary with the
// incident library's connection-exhaustion scenario: the flood leaves
// only the reserved slots, and `pgrunbook run`'s own connection must get
// in through one of them as the superuser, shed enough of the flood and
// leave the other application and pgbench alone. Until shed-connections
// is built in, the reference playbook stands in for it.
func TestRehearseConnectionExhaustion(t *testing.T) {
	t.Parallel()
	args := []string{"rehearse", "connection-exhaustion", "--yes", "--clients", "2"}
	if r := pgrunbook(t, "", nil, "explain", "shed-connections"); r.code != 0 {
		args = append(args, "--playbook", filepath.Join(absRoot(t), "internal", "rehearse", "testdata", "reference", "shed-connections.yaml"))
	}
	r := runRehearsal(t.TempDir(), "connection-exhaustion", args...)
	if r.err != nil || r.res.code != 0 {
		r.fatalf(t, "exit %d (%v), want 0", r.res.code, r.err)
	}
	for _, want := range []string{
		"server settings for this scenario: max_connections=20 superuser_reserved_connections=3",
		"12 webapp sessions connected; the next one was refused: SQLSTATE 53300",
		"privileges: superuser",
		"[ok]   as staged: 0 of 17 ordinary slots free",
		"[ok]   a new webapp session gets in again: yes",
		"[ok]   billing#1: pid", "[ok]   billing#3: pid",
		"0 failed transactions, 0 of 2 clients aborted",
		"RESOLVED with zero collateral damage",
	} {
		if !strings.Contains(r.res.stdout, want) {
			r.fatalf(t, "the report lacks %q", want)
		}
	}
	checkScorecardNote(t, r, r.transcripts(t), "Connection slots: an application can connect again")
	checkNothingLeft(t, r)
}

// TestRehearseWithoutServerBinaries: a directory without initdb and
// postgres is refused in one clear message, before anything starts.
func TestRehearseWithoutServerBinaries(t *testing.T) {
	t.Parallel()
	r := pgrunbook(t, "", nil, "rehearse", "long-query", "--yes", "--pg-bin", t.TempDir())
	if r.code != 1 || !strings.Contains(r.stderr, "missing executable initdb and postgres") {
		t.Errorf("exit %d, want 1 and a message naming the missing programs\n%s%s", r.code, r.stdout, r.stderr)
	}
	if strings.Contains(r.stdout, "cluster directory") {
		t.Errorf("a cluster was started:\n%s", r.stdout)
	}
}

// TestRehearseSIGINTWhileStaging sends SIGINT as soon as the rehearsal
// reports that it is staging the incident: exit 130, and nothing of the
// sandbox is left.
func TestRehearseSIGINTWhileStaging(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	cmd := exec.Command(binary, "rehearse", "mixed", "--yes", "--clients", "2")
	cmd.Dir = dir
	cmd.Env = rehearsalEnv(dir)
	out := &watchedOutput{trigger: "staging reporting", fired: make(chan struct{})}
	var errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = out, &errOut
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case <-out.fired:
		if err := cmd.Process.Signal(syscall.SIGINT); err != nil {
			t.Fatal(err)
		}
	case err := <-done:
		t.Fatalf("rehearse exited (%v) before it staged anything:\n%s%s", err, out.String(), errOut.String())
	case <-time.After(rehearsalDeadline):
		_ = cmd.Process.Kill()
		t.Fatalf("staging did not start:\n%s", out.String())
	}
	select {
	case <-done:
	case <-time.After(rehearsalDeadline):
		_ = cmd.Process.Kill()
		t.Fatalf("rehearse did not exit after SIGINT:\n%s", out.String())
	}
	r := &rehearsalRun{args: cmd.Args[1:], res: result{stdout: out.String(), stderr: errOut.String(), code: cmd.ProcessState.ExitCode()}}
	r.sandbox, _ = parseRehearsal(r.res.stdout)
	if r.res.code != 130 {
		r.fatalf(t, "exit %d, want 130", r.res.code)
	}
	// Where exactly the signal lands depends on the scheduler: staging
	// takes a few hundred milliseconds. The internal/rehearse test
	// TestRunInterruptedWhileStaging interrupts it deterministically.
	if !strings.Contains(r.res.stdout, "INTERRUPTED during ") {
		r.fatalf(t, "the report does not say it was interrupted")
	}
	t.Logf("interrupted: %s", r.res.stdout[strings.Index(r.res.stdout, "INTERRUPTED during "):])
	checkNothingLeft(t, r)
}

// watchedOutput collects a program's output and closes fired once the
// output contains trigger.
type watchedOutput struct {
	mu      sync.Mutex
	b       bytes.Buffer
	trigger string
	fired   chan struct{}
	done    bool
}

func (w *watchedOutput) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	n, err := w.b.Write(p)
	if !w.done && bytes.Contains(w.b.Bytes(), []byte(w.trigger)) {
		w.done = true
		close(w.fired)
	}
	return n, err
}

func (w *watchedOutput) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.String()
}

// TestRehearseInteractive: on a terminal the rehearsal asks as `run`
// does; approving the cancel resolves the long query, exit 0.
func TestRehearseInteractive(t *testing.T) {
	t.Parallel()
	r := startInTerminal(t, "rehearse", "long-query", "--clients", "2")
	r.expect("Cancel the running statement of this session?")
	r.expect(confirmChoices[0])
	r.awaitKeys()
	r.send(keyEnter)
	r.expect("RESOLVED with zero collateral damage")
	text := r.out.text()
	if code := r.wait(); code != 0 {
		r.fatalf("exit code %d, want 0", code)
	}
	evs := r.events()
	var answered bool
	for _, ev := range evs {
		if ev.Type == transcript.Prompt && ev.By == transcript.ByOperator && ev.Answer == "all" {
			answered = true
		}
	}
	if !answered {
		t.Errorf("the transcript records no answer by the operator")
	}
	if last := evs[len(evs)-1]; last.Type != transcript.Note || last.Title != "scorecard" {
		t.Errorf("the transcript does not end with the scorecard: %+v", last)
	}
	sb, _ := parseRehearsal(text)
	checkNothingLeft(t, &rehearsalRun{args: r.cmd.Args[1:], res: result{stdout: text}, sandbox: sb})
}

// TestRehearseSIGINTAtConfirm: SIGINT while the operator is asked to
// confirm ends the rehearsal: exit 130, nothing signalled, the terminal
// restored, and nothing of the sandbox left.
func TestRehearseSIGINTAtConfirm(t *testing.T) {
	t.Parallel()
	r := startInTerminal(t, "rehearse", "long-query", "--clients", "2")
	r.expect("Cancel the running statement of this session?")
	r.expect(confirmChoices[0])
	r.awaitKeys()
	if err := r.cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	if code := r.wait(); code != 130 {
		r.fatalf("exit code %d, want 130 (interrupted)", code)
	}
	text := r.out.text()
	if !strings.Contains(text, "INTERRUPTED during playbook cancel-long-queries") {
		r.fatalf("the report does not say where it was interrupted")
	}
	evs := r.events()
	checkNoActions(t, evs)
	checkFinished(t, evs, "interrupted", 130)
	sb, _ := parseRehearsal(text)
	checkNothingLeft(t, &rehearsalRun{args: r.cmd.Args[1:], res: result{stdout: text}, sandbox: sb})
}

// TestRehearseKeepAndStop: --keep leaves the sandbox running after the
// rehearsal exits, reachable with the variables it prints; --stop DIR
// stops it and removes everything.
func TestRehearseKeepAndStop(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	r := runRehearsal(dir, "keep", "rehearse", "long-query", "--dry-run", "--keep", "--clients", "2")
	if r.err != nil || r.res.code != 0 {
		r.fatalf(t, "exit %d (%v), want 0", r.res.code, r.err)
	}
	m := regexp.MustCompile(`export (PGHOST=\S+ PGPORT=\S+ PGUSER=\S+ PGDATABASE=\S+ PGSSLMODE=\S+)`).FindStringSubmatch(r.res.stdout)
	stop := regexp.MustCompile(`pgrunbook rehearse --stop (\S+)`).FindStringSubmatch(r.res.stdout)
	if m == nil || stop == nil || stop[1] != r.sandbox.Dir {
		r.fatalf(t, "no PG* variables or --stop command for %s in the output", r.sandbox.Dir)
	}
	stopped := false
	t.Cleanup(func() {
		if !stopped {
			pgrunbook(t, "", nil, "rehearse", "--stop", stop[1])
		}
	})

	// The rehearsal has exited; its server still answers, with the
	// rehearsal's database, through the printed variables.
	conf := map[string]string{}
	for _, kv := range strings.Fields(m[1]) {
		k, v, _ := strings.Cut(kv, "=")
		conf[k] = v
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, fmt.Sprintf("host=%s port=%s user=%s dbname=%s sslmode=%s",
		conf["PGHOST"], conf["PGPORT"], conf["PGUSER"], conf["PGDATABASE"], conf["PGSSLMODE"]))
	if err != nil {
		r.fatalf(t, "the kept sandbox does not answer: %v", err)
	}
	var branches int
	err = conn.QueryRow(ctx, "SELECT count(*) FROM pgbench_branches").Scan(&branches)
	conn.Close(ctx)
	if err != nil || branches != 1 {
		t.Errorf("pgbench_branches in the kept sandbox: %d rows, %v", branches, err)
	}
	if _, err := os.Stat(filepath.Join(stop[1], rehearse.KeptFile)); err != nil {
		t.Errorf("the kept sandbox has no %s: %v", rehearse.KeptFile, err)
	}

	s := pgrunbook(t, "", nil, "rehearse", "--stop", stop[1])
	stopped = true
	if s.code != 0 || !strings.Contains(s.stdout, "removed") {
		t.Fatalf("rehearse --stop: exit %d\n%s%s", s.code, s.stdout, s.stderr)
	}
	pm := regexp.MustCompile(`PostgreSQL stopped \(postmaster pid (\d+)\)`).FindStringSubmatch(s.stdout)
	if pm == nil {
		t.Fatalf("rehearse --stop does not say which server it stopped:\n%s", s.stdout)
	}
	kept := r.sandbox
	kept.PostmasterPID, _ = strconv.Atoi(pm[1]) // the restarted server
	if left := kept.Leftovers(); len(left) > 0 {
		t.Errorf("left behind after --stop: %v", left)
	}
}
