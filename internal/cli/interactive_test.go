//go:build unix

package cli_test

// End-to-end tests of the interactive mode: the real binary runs on a
// pseudo-terminal and the tests answer its survey prompts with keystrokes,
// as an operator would, against staged sessions on the test server.

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/creack/pty"
	"golang.org/x/sys/unix"
	"golang.org/x/term"

	"github.com/pgrunbook/pgrunbook/internal/incident"
	"github.com/pgrunbook/pgrunbook/internal/pg"
	"github.com/pgrunbook/pgrunbook/internal/pg/pgtest"
	"github.com/pgrunbook/pgrunbook/internal/transcript"
)

// Keys as a terminal sends them.
const (
	keyDown  = "\x1b[B"
	keyEnter = "\r"
	keySpace = " "
	keyCtrlC = "\x03"
)

const (
	// screenDeadline bounds each wait for something to appear on the
	// terminal. It is a guard against hangs, not a timing assertion.
	screenDeadline = 20 * time.Second
	// exitDeadline bounds the wait for the process to end once it has been
	// answered (the run may still cancel and verify).
	exitDeadline = 60 * time.Second
)

// confirmChoices are the options of a confirmation when the targets are
// within the blast-radius limit, in the order offered.
var confirmChoices = []string{
	"Act on all of them",
	"Choose a subset",
	"Refresh the table (read the sessions again)",
	"Skip this step (act on none)",
	"Abort the run",
}

// ---------------------------------------------------------------------------
// Staged incident

// stagedIncident is a database with long-running statements and an idle
// bystander session.
type stagedIncident struct {
	db        string
	long      []*incident.Session
	bystander *incident.Session
}

// stageIncident creates a database holding n sessions that each run a
// one-minute statement, plus one idle session. Everything is torn down
// when the test ends.
func stageIncident(t *testing.T, n int) *stagedIncident {
	t.Helper()
	db := pgtest.CreateDatabase(t, "interactive")
	dsn := pgtest.DSNFor(db)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	inc := &stagedIncident{db: db}
	for i := range n {
		s, err := incident.LongQuery(ctx, dsn, fmt.Sprintf("interactive-long-%d", i+1), time.Minute)
		if err != nil {
			t.Fatalf("staging long query %d: %v", i+1, err)
		}
		t.Cleanup(s.Close)
		inc.long = append(inc.long, s)
	}
	by, err := incident.Idle(ctx, dsn, "interactive-bystander")
	if err != nil {
		t.Fatalf("staging the idle bystander: %v", err)
	}
	t.Cleanup(by.Close)
	inc.bystander = by
	return inc
}

// pids returns the pids of the long-running sessions.
func (inc *stagedIncident) pids() []int {
	pids := make([]int, len(inc.long))
	for i, s := range inc.long {
		pids[i] = s.PID
	}
	return pids
}

// runArgs are the arguments of a cancel-long-queries run that targets
// every active statement in db.
func runArgs(db string) []string {
	return []string{"run", "cancel-long-queries", "-d", pgtest.DSN(),
		"--set", "min_runtime=0s", "--set", "database=" + db}
}

// ---------------------------------------------------------------------------
// The binary on a pseudo-terminal

// screen collects everything the program writes to its terminal. Like a
// real terminal it answers cursor-position queries (ESC [6n), which
// survey's text input sends and waits for.
type screen struct {
	mu    sync.Mutex
	buf   bytes.Buffer
	reply io.Writer // the terminal's input side, for answers to queries
}

// cursorQuery is the "device status report" asking for the cursor position.
const cursorQuery = "\x1b[6n"

func (s *screen) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.reply != nil {
		// The query may arrive split across two writes: look at it
		// together with the end of what came before.
		start := max(s.buf.Len()-len(cursorQuery)+1, 0)
		seen := append(bytes.Clone(s.buf.Bytes()[start:]), p...)
		for range bytes.Count(seen, []byte(cursorQuery)) {
			_, _ = s.reply.Write([]byte("\x1b[1;1R"))
		}
	}
	return s.buf.Write(p)
}

// text returns the output so far without terminal escape sequences
// (colours, cursor movement), so that what the operator reads can be
// matched as plain text.
func (s *screen) text() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return stripEscapes(s.buf.String())
}

var escapeSeq = regexp.MustCompile(`\x1b(?:\[[0-9;?]*[ -/]*[@-~]|[78])`)

func stripEscapes(s string) string { return escapeSeq.ReplaceAllString(s, "") }

// terminalRun is one run of the binary on a pseudo-terminal.
//
// This harness is kept instead of go-expect and vt10x (survey's own test
// dependencies, unmaintained) for what they do not do: the program gets
// the pty as its controlling terminal in a session of its own, so Ctrl-C
// typed on it reaches it as SIGINT through the line discipline; the
// harness watches the terminal's mode to know when survey waits for keys
// (raw) instead of guessing with delays; and it answers the cursor
// position queries survey's text input blocks on.
type terminalRun struct {
	t    *testing.T
	cmd  *exec.Cmd
	ptmx *os.File // our side of the terminal
	tty  *os.File // the program's side; kept open to watch its mode
	// cooked is the terminal's mode before the program started. survey
	// switches to raw mode while it waits for keys and restores it after.
	cooked      *term.State
	out         *screen
	transcripts string
	// mark is where the next expect starts looking, in screen.text().
	mark int

	readDone chan struct{}
	exited   chan struct{}
	waitErr  error
	stopOnce sync.Once
}

// startInTerminal starts the binary with args on a new 160x50
// pseudo-terminal that is its controlling terminal and its stdin, stdout
// and stderr.
func startInTerminal(t *testing.T, args ...string) *terminalRun {
	t.Helper()
	return startInTerminalEnv(t, nil, args...)
}

// startInTerminalEnv is startInTerminal with variables added to the
// program's environment (e.g. NO_COLOR=1).
func startInTerminalEnv(t *testing.T, env []string, args ...string) *terminalRun {
	t.Helper()
	dir := t.TempDir()
	ptmx, tty, err := pty.Open()
	if err != nil {
		t.Fatalf("opening a pseudo-terminal: %v", err)
	}
	if err := pty.Setsize(ptmx, &pty.Winsize{Rows: 50, Cols: 160}); err != nil {
		ptmx.Close()
		tty.Close()
		t.Fatalf("sizing the pseudo-terminal: %v", err)
	}
	// Fd (in Setsize) left the master in blocking mode, where Close waits
	// for the reader below: make it pollable, so that closing it hangs up
	// the terminal at once (TestInteractiveTerminalHangsUp).
	if ptmx, err = pollable(ptmx); err != nil {
		tty.Close()
		t.Fatalf("making the pseudo-terminal pollable: %v", err)
	}
	cooked, err := term.GetState(int(tty.Fd()))
	if err != nil {
		ptmx.Close()
		tty.Close()
		t.Fatalf("reading the terminal mode: %v", err)
	}
	r := &terminalRun{
		t: t, ptmx: ptmx, tty: tty, cooked: cooked,
		out:         &screen{reply: ptmx},
		transcripts: filepath.Join(dir, "transcripts"),
		readDone:    make(chan struct{}),
		exited:      make(chan struct{}),
	}
	r.cmd = exec.Command(binary, args...)
	r.cmd.Dir = dir
	r.cmd.Env = []string{
		"PATH=" + os.Getenv("PATH"),
		"HOME=" + dir,
		"TERM=xterm",
		"PGRUNBOOK_TRANSCRIPT_DIR=" + r.transcripts,
		"PGCONNECT_TIMEOUT=5",
	}
	r.cmd.Env = append(r.cmd.Env, env...)
	r.cmd.Stdin, r.cmd.Stdout, r.cmd.Stderr = tty, tty, tty
	// A session of its own with the pty as controlling terminal, like a
	// login shell would give it.
	r.cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Setctty: true}
	if err := r.cmd.Start(); err != nil {
		ptmx.Close()
		tty.Close()
		t.Fatalf("starting pgrunbook: %v", err)
	}
	go func() {
		// Ends with an error (EIO) once every copy of tty is closed.
		_, _ = io.Copy(r.out, ptmx)
		close(r.readDone)
	}()
	go func() {
		r.waitErr = r.cmd.Wait()
		close(r.exited)
	}()
	t.Cleanup(r.stop)
	return r
}

// stop kills the program if it still runs and releases the terminal.
func (r *terminalRun) stop() {
	r.stopOnce.Do(func() {
		select {
		case <-r.exited:
		default:
			_ = r.cmd.Process.Kill()
			<-r.exited
		}
		_ = r.tty.Close()
		select {
		case <-r.readDone:
		case <-time.After(5 * time.Second):
		}
		_ = r.ptmx.Close()
	})
}

// fatalf ends the test, showing the terminal as it was.
func (r *terminalRun) fatalf(format string, args ...any) {
	r.t.Helper()
	r.t.Fatalf("%s\n--- terminal output (escape sequences removed) ---\n%s\n--- end of terminal output ---",
		fmt.Sprintf(format, args...), r.out.text())
}

// await polls until found reports a match in the screen text after the
// mark, and moves the mark past the match.
func (r *terminalRun) await(what string, found func(s string) (end int, ok bool)) {
	r.t.Helper()
	deadline := time.Now().Add(screenDeadline)
	for {
		text := r.out.text()
		if end, ok := found(text[r.mark:]); ok {
			r.mark += end
			return
		}
		select {
		case <-r.exited:
			// The last output may still be on its way through the
			// terminal: keep looking for a moment before giving up.
			for last := time.Now().Add(time.Second); time.Now().Before(last); time.Sleep(10 * time.Millisecond) {
				text = r.out.text()
				if end, ok := found(text[r.mark:]); ok {
					r.mark += end
					return
				}
			}
			r.fatalf("pgrunbook exited (%v) before showing %s", r.waitErr, what)
		default:
		}
		if time.Now().After(deadline) {
			r.fatalf("%s did not appear within %s", what, screenDeadline)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// expect waits for text to appear after the mark.
func (r *terminalRun) expect(text string) {
	r.t.Helper()
	r.await(fmt.Sprintf("%q", text), func(s string) (int, bool) {
		i := strings.Index(s, text)
		return i + len(text), i >= 0
	})
}

// expectMatch waits for re to match after the mark and returns the
// submatches.
func (r *terminalRun) expectMatch(re *regexp.Regexp) []string {
	r.t.Helper()
	var m []string
	r.await(fmt.Sprintf("text matching %q", re), func(s string) (int, bool) {
		loc := re.FindStringSubmatchIndex(s)
		if loc == nil {
			return 0, false
		}
		m = make([]string, len(loc)/2)
		for i := range m {
			if loc[2*i] >= 0 {
				m[i] = s[loc[2*i]:loc[2*i+1]]
			}
		}
		return loc[1], true
	})
	return m
}

// awaitKeys waits until the program reads keys (see readyForKeys). It
// documents where a test waits for a prompt; send waits the same way.
func (r *terminalRun) awaitKeys() {
	r.t.Helper()
	r.untilReadyForKeys(func() {})
}

// send types keys once the program reads keys (see readyForKeys).
func (r *terminalRun) send(keys string) {
	r.t.Helper()
	var err error
	r.untilReadyForKeys(func() { _, err = r.ptmx.Write([]byte(keys)) })
	if err != nil {
		r.fatalf("typing %q: %v", keys, err)
	}
}

// untilReadyForKeys polls readyForKeys and calls then once it holds,
// while no cursor-position reply can be written (screen.mu is held), so
// that nothing can slip in between the check and what then does.
func (r *terminalRun) untilReadyForKeys(then func()) {
	r.t.Helper()
	deadline := time.Now().Add(screenDeadline)
	for {
		r.out.mu.Lock()
		why := r.readyForKeys()
		if why == "" {
			then()
			r.out.mu.Unlock()
			return
		}
		r.out.mu.Unlock()
		select {
		case <-r.exited:
			r.fatalf("pgrunbook exited (%v) while a prompt was expected", r.waitErr)
		default:
		}
		if time.Now().After(deadline) {
			r.fatalf("no prompt read keys within %s: %s", screenDeadline, why)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// readyForKeys reports why keys typed now might not reach the prompt that
// is shown, or "" when they will:
//
//   - survey draws a prompt first and only then puts the terminal in raw
//     mode, so keys sent while it is still in its normal mode could be
//     taken by the line discipline (echoed, or Ctrl-C turned into SIGINT);
//   - survey's text input asks for the cursor position when it starts and
//     reads the answer (which screen types) with a reader of its own that
//     drops whatever came after the answer in the same read: keys typed
//     while an answer is still unread are lost. So the program must have
//     read all its input first. poll on Linux first moves input still in
//     flight in the pseudo-terminal into the line discipline, so it sees
//     every byte written before the call. Keys written before a later
//     answer are safe: that reader keeps what precedes the answer.
func (r *terminalRun) readyForKeys() string {
	st, err := term.GetState(int(r.tty.Fd()))
	if err != nil {
		return fmt.Sprintf("reading the terminal mode: %v", err)
	}
	if reflect.DeepEqual(st, r.cooked) {
		return "the terminal is not in raw mode"
	}
	fds := []unix.PollFd{{Fd: int32(r.tty.Fd()), Events: unix.POLLIN}}
	n, err := unix.Poll(fds, 0)
	if err != nil {
		return fmt.Sprintf("polling the terminal: %v", err)
	}
	if n > 0 && fds[0].Revents&unix.POLLIN != 0 {
		return "the program has not read all its input yet"
	}
	return ""
}

// awaitConfirm waits for the confirmation of the cancel step, with all
// four choices offered, and for the prompt to read keys.
func (r *terminalRun) awaitConfirm(n int) {
	r.t.Helper()
	r.expect(fmt.Sprintf("Cancel the running statement of these %d sessions?", n))
	for _, c := range confirmChoices {
		r.expect(c)
	}
	r.awaitKeys()
}

// choose moves the highlight from the first choice to confirmChoices[i],
// watching it move, and presses enter.
func (r *terminalRun) choose(i int) {
	r.t.Helper()
	for j := 1; j <= i; j++ {
		r.send(keyDown)
		r.expect("> " + confirmChoices[j])
	}
	r.send(keyEnter)
}

// wait waits for the program to end and returns its exit code. It also
// checks that the terminal was left as it was found.
func (r *terminalRun) wait() int {
	r.t.Helper()
	select {
	case <-r.exited:
	case <-time.After(exitDeadline):
		r.fatalf("pgrunbook did not exit within %s", exitDeadline)
	}
	code := r.cmd.ProcessState.ExitCode()
	var exitErr *exec.ExitError
	if r.waitErr != nil && !errors.As(r.waitErr, &exitErr) {
		r.fatalf("waiting for pgrunbook: %v", r.waitErr)
	}
	if code < 0 {
		r.fatalf("pgrunbook ended abnormally: %v", r.cmd.ProcessState)
	}
	st, err := term.GetState(int(r.tty.Fd()))
	if err != nil {
		r.fatalf("reading the terminal mode: %v", err)
	}
	if !reflect.DeepEqual(st, r.cooked) {
		r.fatalf("pgrunbook exited with code %d and left the terminal in raw mode", code)
	}
	// Collect the rest of the output before anyone shows it.
	r.stop()
	return code
}

// events reads the run's transcript.
func (r *terminalRun) events() []transcript.Event {
	r.t.Helper()
	files, err := filepath.Glob(filepath.Join(r.transcripts, "*.jsonl"))
	if err != nil {
		r.t.Fatal(err)
	}
	if len(files) != 1 {
		r.fatalf("want one transcript in %s, found %d: %v", r.transcripts, len(files), files)
	}
	res, err := transcript.ReadFile(files[0])
	if err != nil {
		r.t.Fatalf("reading the transcript %s: %v", files[0], err)
	}
	if res.Truncated {
		r.t.Fatalf("the transcript %s is truncated at line %d", files[0], res.TruncatedLine)
	}
	if len(res.Events) == 0 {
		r.t.Fatalf("the transcript %s is empty", files[0])
	}
	return res.Events
}

// ---------------------------------------------------------------------------
// Transcript and session checks

func eventsOfType(evs []transcript.Event, typ string) []transcript.Event {
	var out []transcript.Event
	for _, ev := range evs {
		if ev.Type == typ {
			out = append(out, ev)
		}
	}
	return out
}

// checkPrompt checks that the transcript holds exactly one prompt, for
// the cancel confirmation, answered by the operator with answer and
// choosing chosen (in any order).
func checkPrompt(t *testing.T, evs []transcript.Event, answer string, chosen []int) {
	t.Helper()
	prompts := eventsOfType(evs, transcript.Prompt)
	if len(prompts) != 1 {
		t.Fatalf("want 1 prompt event, got %d: %+v", len(prompts), prompts)
	}
	p := prompts[0]
	if p.Step != "approved" || p.Answer != answer || p.By != transcript.ByOperator {
		t.Errorf("prompt: step %q answered %q by %q; want step \"approved\" answered %q by %q",
			p.Step, p.Answer, p.By, answer, transcript.ByOperator)
	}
	got, want := slices.Sorted(slices.Values(p.Chosen)), slices.Sorted(slices.Values(chosen))
	if !slices.Equal(got, want) {
		t.Errorf("prompt chose %v, want %v", got, want)
	}
}

// checkFinished checks the transcript's last event.
func checkFinished(t *testing.T, evs []transcript.Event, outcome string, code int) {
	t.Helper()
	last := evs[len(evs)-1]
	if last.Type != transcript.RunFinished {
		t.Fatalf("last transcript event is %q, want %q", last.Type, transcript.RunFinished)
	}
	if last.Outcome != outcome {
		t.Errorf("run_finished outcome %q (%s), want %q", last.Outcome, last.Message, outcome)
	}
	if last.ExitCode == nil || *last.ExitCode != code {
		t.Errorf("run_finished exit_code %v, want %d", last.ExitCode, code)
	}
}

// checkNoActions checks that nothing was signalled.
func checkNoActions(t *testing.T, evs []transcript.Event) {
	t.Helper()
	if acts := eventsOfType(evs, transcript.Action); len(acts) > 0 {
		t.Errorf("want no action events, got %+v", acts)
	}
	if intents := eventsOfType(evs, transcript.Intent); len(intents) > 0 {
		t.Errorf("want no intent events, got %+v", intents)
	}
}

// checkCancelled checks that s's statement ended with query_canceled and
// that its session is still connected.
func checkCancelled(t *testing.T, s *incident.Session) {
	t.Helper()
	select {
	case <-s.Done():
	case <-time.After(screenDeadline):
		t.Errorf("pid %d: the statement still runs %s after the run", s.PID, screenDeadline)
		return
	}
	if code := pg.SQLState(s.Err()); code != "57014" {
		t.Errorf("pid %d: statement ended with %v (SQLSTATE %q), want SQLSTATE 57014 (query_canceled)", s.PID, s.Err(), code)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if !s.Alive(ctx) {
		t.Errorf("pid %d: the session was disconnected; a cancel must leave it connected", s.PID)
	}
}

// checkRunning checks that s's statement was left alone.
func checkRunning(t *testing.T, s *incident.Session) {
	t.Helper()
	select {
	case <-s.Done():
		t.Errorf("pid %d: the statement ended (%v), but it was not approved", s.PID, s.Err())
	default:
	}
}

// checkBystander checks that the idle session is still connected.
func checkBystander(t *testing.T, s *incident.Session) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if !s.Alive(ctx) {
		t.Errorf("the idle bystander (pid %d) was disconnected", s.PID)
	}
}

// ---------------------------------------------------------------------------
// Tests

func TestInteractiveActOnAll(t *testing.T) {
	t.Parallel()
	inc := stageIncident(t, 3)
	r := startInTerminal(t, runArgs(inc.db)...)
	r.awaitConfirm(3)
	r.choose(0)
	// Acting on more than one session asks for their number; a wrong
	// number is refused and asked again.
	r.expect("Type 3 to cancel the statements of 3 sessions:")
	r.awaitKeys()
	r.send("2" + keyEnter)
	r.expect("type 3, the number of sessions, to go on")
	r.send(strings.Repeat("\x7f", 3) + "3" + keyEnter)
	if code := r.wait(); code != 0 {
		r.fatalf("exit code %d, want 0", code)
	}

	evs := r.events()
	checkPrompt(t, evs, "all", inc.pids())
	if p := eventsOfType(evs, transcript.Prompt); len(p) != 1 || p[0].Typed != 3 {
		t.Errorf("prompt events %+v, want one with typed_count 3", p)
	}
	checkFinished(t, evs, "done", 0)
	acts := eventsOfType(evs, transcript.Action)
	var signalled []int
	for _, a := range acts {
		if a.Function != "pg_cancel_backend" || a.Outcome != "signalled" {
			t.Errorf("action on pid %d: %s → %s (%s), want pg_cancel_backend → signalled", a.PID, a.Function, a.Outcome, a.Message)
		}
		signalled = append(signalled, a.PID)
	}
	if got, want := slices.Sorted(slices.Values(signalled)), slices.Sorted(slices.Values(inc.pids())); !slices.Equal(got, want) {
		t.Errorf("signalled pids %v, want %v", got, want)
	}
	for _, s := range inc.long {
		checkCancelled(t, s)
	}
	checkBystander(t, inc.bystander)
}

// firstOption matches the first (highlighted, unchecked) line of the
// session list; its label starts with the pid.
var firstOption = regexp.MustCompile(`> \[ \]\s+(\d+) `)

func TestInteractiveChooseSubset(t *testing.T) {
	t.Parallel()
	inc := stageIncident(t, 3)
	r := startInTerminal(t, runArgs(inc.db)...)
	r.awaitConfirm(3)
	r.choose(1)

	r.expect("Choose the sessions to cancel")
	r.awaitKeys()
	first := r.expectMatch(firstOption)[1]
	var picked *incident.Session
	for _, s := range inc.long {
		if fmt.Sprint(s.PID) == first {
			picked = s
		}
	}
	if picked == nil {
		r.fatalf("the first session listed is pid %s, which is none of the staged %v", first, inc.pids())
	}
	r.send(keySpace)
	r.expect(fmt.Sprintf("> [x]  %d ", picked.PID))
	r.send(keyEnter)
	if code := r.wait(); code != 0 {
		r.fatalf("exit code %d, want 0", code)
	}

	evs := r.events()
	checkPrompt(t, evs, "subset", []int{picked.PID})
	checkFinished(t, evs, "done", 0)
	acts := eventsOfType(evs, transcript.Action)
	if len(acts) != 1 || acts[0].PID != picked.PID || acts[0].Function != "pg_cancel_backend" || acts[0].Outcome != "signalled" {
		t.Errorf("want one action, pg_cancel_backend on pid %d → signalled; got %+v", picked.PID, acts)
	}
	for _, s := range inc.long {
		if s == picked {
			checkCancelled(t, s)
		} else {
			checkRunning(t, s)
		}
	}
	checkBystander(t, inc.bystander)
}

func TestInteractiveSkip(t *testing.T) {
	t.Parallel()
	inc := stageIncident(t, 2)
	r := startInTerminal(t, runArgs(inc.db)...)
	r.awaitConfirm(2)
	r.choose(3)
	if code := r.wait(); code != 0 {
		r.fatalf("exit code %d, want 0", code)
	}

	evs := r.events()
	checkPrompt(t, evs, "skip", nil)
	checkNoActions(t, evs)
	checkFinished(t, evs, "done", 0)
	for _, s := range inc.long {
		checkRunning(t, s)
	}
	checkBystander(t, inc.bystander)
}

// TestInteractiveRefresh: "refresh" reads the sessions again and asks
// again; a statement that ended meanwhile is no longer in the table.
func TestInteractiveRefresh(t *testing.T) {
	t.Parallel()
	inc := stageIncident(t, 2)
	r := startInTerminal(t, runArgs(inc.db)...)
	r.awaitConfirm(2)
	// End one statement while the operator looks at the table.
	ended := inc.long[0]
	conn := pgtest.Connect(t)
	if _, err := conn.Exec(context.Background(), "SELECT pg_cancel_backend($1)", ended.PID); err != nil {
		t.Fatal(err)
	}
	<-ended.Done()
	r.choose(2)
	r.expect("Cancel the running statement of this session?")
	r.awaitKeys()
	r.choose(3) // skip
	if code := r.wait(); code != 0 {
		r.fatalf("exit code %d, want 0", code)
	}
	evs := r.events()
	prompts := eventsOfType(evs, transcript.Prompt)
	if len(prompts) != 2 || prompts[0].Answer != "refresh" || prompts[1].Answer != "skip" {
		t.Fatalf("prompts %+v, want refresh then skip", prompts)
	}
	refreshed := false
	for _, ev := range evs {
		if ev.Type == transcript.Snapshot && ev.Text == "refreshed" {
			refreshed = true
		}
	}
	if !refreshed {
		t.Error("no refreshed snapshot in the transcript")
	}
	checkNoActions(t, evs)
	checkRunning(t, inc.long[1])
}

// TestInteractiveStaleAnswer: with --stale-after 1ns every answer is
// stale, so the sessions are read again before acting; one of them ended
// meanwhile, so the operator is told and asked again.
func TestInteractiveStaleAnswer(t *testing.T) {
	t.Parallel()
	inc := stageIncident(t, 2)
	r := startInTerminal(t, append(runArgs(inc.db), "--stale-after", "1ns")...)
	r.awaitConfirm(2)
	ended := inc.long[0]
	if _, err := pgtest.Connect(t).Exec(context.Background(), "SELECT pg_cancel_backend($1)", ended.PID); err != nil {
		t.Fatal(err)
	}
	<-ended.Done()
	r.choose(0)
	r.expect("Type 2 to cancel the statements of 2 sessions:")
	r.awaitKeys()
	r.send("2" + keyEnter)
	r.expect(fmt.Sprintf("pid %d no longer matches or has ended", ended.PID))
	r.expect("Cancel the running statement of this session?")
	r.awaitKeys()
	r.choose(3) // skip
	if code := r.wait(); code != 0 {
		r.fatalf("exit code %d, want 0", code)
	}
	prompts := eventsOfType(r.events(), transcript.Prompt)
	if len(prompts) != 2 || prompts[0].Answer != "all" || prompts[0].Text == "" || prompts[1].Answer != "skip" {
		t.Fatalf("prompts %+v, want a stale 'all' then 'skip'", prompts)
	}
	checkNoActions(t, r.events())
	checkRunning(t, inc.long[1])
}

func TestInteractiveAbort(t *testing.T) {
	t.Parallel()
	inc := stageIncident(t, 2)
	r := startInTerminal(t, runArgs(inc.db)...)
	r.awaitConfirm(2)
	r.choose(4)
	if code := r.wait(); code != 3 {
		r.fatalf("exit code %d, want 3 (aborted by the operator)", code)
	}

	evs := r.events()
	checkPrompt(t, evs, "abort", nil)
	checkNoActions(t, evs)
	checkFinished(t, evs, "aborted", 3)
	for _, s := range inc.long {
		checkRunning(t, s)
	}
	checkBystander(t, inc.bystander)
}

func TestInteractiveCtrlCAtPrompt(t *testing.T) {
	t.Parallel()
	inc := stageIncident(t, 2)
	r := startInTerminal(t, runArgs(inc.db)...)
	r.awaitConfirm(2)
	r.send(keyCtrlC)
	if code := r.wait(); code != 130 {
		r.fatalf("exit code %d, want 130 (interrupted)", code)
	}

	evs := r.events()
	if prompts := eventsOfType(evs, transcript.Prompt); len(prompts) > 0 {
		t.Errorf("an interrupted prompt recorded an answer: %+v", prompts)
	}
	checkNoActions(t, evs)
	checkFinished(t, evs, "interrupted", 130)
	for _, s := range inc.long {
		checkRunning(t, s)
	}
	checkBystander(t, inc.bystander)
}

// TestInteractiveCtrlCInSubsetList: Ctrl-C in the list of sessions, after
// "Choose a subset" but before confirming it, interrupts the run too.
func TestInteractiveCtrlCInSubsetList(t *testing.T) {
	t.Parallel()
	inc := stageIncident(t, 2)
	r := startInTerminal(t, runArgs(inc.db)...)
	r.awaitConfirm(2)
	r.choose(1)
	r.expect("Choose the sessions to cancel")
	r.awaitKeys()
	r.expectMatch(firstOption)
	r.send(keySpace) // picked, but never confirmed
	r.expect("> [x]")
	r.send(keyCtrlC)
	if code := r.wait(); code != 130 {
		r.fatalf("exit code %d, want 130 (interrupted)", code)
	}

	evs := r.events()
	if prompts := eventsOfType(evs, transcript.Prompt); len(prompts) > 0 {
		t.Errorf("an interrupted prompt recorded an answer: %+v", prompts)
	}
	checkNoActions(t, evs)
	checkFinished(t, evs, "interrupted", 130)
	for _, s := range inc.long {
		checkRunning(t, s)
	}
	checkBystander(t, inc.bystander)
}

// TestInteractiveSIGTERMAtPrompt: the first SIGTERM (or a SIGINT that does
// not come from the keyboard) is meant to end the run cleanly, also while
// it waits at a prompt: exit 130, run_finished "interrupted", terminal
// restored. The prompt reads from a pollable /dev/tty (prompt.OpenTTY) so
// the cancelled context can wake it.
func TestInteractiveSIGTERMAtPrompt(t *testing.T) {
	t.Parallel()
	inc := stageIncident(t, 2)
	r := startInTerminal(t, runArgs(inc.db)...)
	r.awaitConfirm(2)
	if err := r.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if code := r.wait(); code != 130 {
		r.fatalf("exit code %d, want 130 (interrupted)", code)
	}

	evs := r.events()
	checkNoActions(t, evs)
	checkFinished(t, evs, "interrupted", 130)
	if msg := evs[len(evs)-1].Message; msg != "terminated (SIGTERM)" {
		t.Errorf("run_finished says %q, want %q", msg, "terminated (SIGTERM)")
	}
	for _, s := range inc.long {
		checkRunning(t, s)
	}
}

// TestRunWithoutTerminalRefuses: without a terminal on both stdin and
// stdout, and without --yes or --dry-run, nobody could answer the
// confirmations, so the run must refuse and say what to use instead.
func TestRunWithoutTerminalRefuses(t *testing.T) {
	t.Parallel()
	inc := stageIncident(t, 1)
	args := runArgs(inc.db)

	check := func(t *testing.T, res result) {
		t.Helper()
		if res.code != 2 {
			t.Errorf("exit code %d, want 2\nstdout:\n%s\nstderr:\n%s", res.code, res.stdout, res.stderr)
		}
		for _, flag := range []string{"--yes", "--dry-run"} {
			if !strings.Contains(res.stderr, flag) {
				t.Errorf("stderr does not mention %s:\n%s", flag, res.stderr)
			}
		}
	}

	t.Run("no terminal", func(t *testing.T) {
		// pgrunbook gives the command no stdin: it reads /dev/null.
		check(t, pgrunbook(t, "", nil, args...))
	})
	t.Run("stdin only", func(t *testing.T) {
		tty := openTTY(t)
		check(t, runWithStdio(t, tty, nil, args...))
	})
	t.Run("stdout only", func(t *testing.T) {
		tty := openTTY(t)
		check(t, runWithStdio(t, nil, tty, args...))
	})

	for _, s := range inc.long {
		checkRunning(t, s)
	}
	checkBystander(t, inc.bystander)
}

// openTTY opens a pseudo-terminal and returns its terminal side. Nothing
// reads the other side: the refusing runs write little, and only to
// stderr.
func openTTY(t *testing.T) *os.File {
	t.Helper()
	ptmx, tty, err := pty.Open()
	if err != nil {
		t.Fatalf("opening a pseudo-terminal: %v", err)
	}
	t.Cleanup(func() {
		tty.Close()
		ptmx.Close()
	})
	return tty
}

// runWithStdio runs the binary with the given stdin and stdout (nil:
// /dev/null for stdin, a buffer for stdout); stderr is captured.
func runWithStdio(t *testing.T, stdin, stdout *os.File, args ...string) result {
	t.Helper()
	dir := t.TempDir()
	cmd := exec.Command(binary, args...)
	cmd.Dir = dir
	cmd.Env = []string{
		"PATH=" + os.Getenv("PATH"),
		"HOME=" + dir,
		"TERM=xterm",
		"PGRUNBOOK_TRANSCRIPT_DIR=" + filepath.Join(dir, "transcripts"),
		"PGCONNECT_TIMEOUT=5",
	}
	var out, errOut bytes.Buffer
	if stdin != nil {
		cmd.Stdin = stdin
	}
	if stdout != nil {
		cmd.Stdout = stdout
	} else {
		cmd.Stdout = &out
	}
	cmd.Stderr = &errOut
	done := make(chan error, 1)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { done <- cmd.Wait() }()
	var err error
	select {
	case err = <-done:
	case <-time.After(exitDeadline):
		_ = cmd.Process.Kill()
		<-done
		t.Fatalf("pgrunbook did not exit within %s\nstderr:\n%s", exitDeadline, errOut.String())
	}
	var exitErr *exec.ExitError
	if err != nil && !errors.As(err, &exitErr) {
		t.Fatal(err)
	}
	return result{stdout: out.String(), stderr: errOut.String(), code: cmd.ProcessState.ExitCode()}
}
