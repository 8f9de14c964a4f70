//go:build unix

package cli_test

// What the operator sees on a terminal (issue 11): the lock tree under a
// table, colour for risk and none with NO_COLOR, skipped steps on one
// line, a confirmation's candidates, the server it acts on, and a dry
// run's closing lines.

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pgrunbook/pgrunbook/internal/incident"
	"github.com/pgrunbook/pgrunbook/internal/pg/pgtest"
	"github.com/pgrunbook/pgrunbook/internal/render"
	"github.com/pgrunbook/pgrunbook/internal/transcript"
)

// screenPlaybook finds the root blockers of the database's lock chains,
// restates them in a second filter, skips two steps by their conditions
// and asks to terminate the roots.
const screenPlaybook = `name: screen-test
summary: Terminate the roots of lock chains (a test of the screen).
params:
  database:
    type: string
    default: "*"
steps:
  - id: snapshot
    activity:
  - id: roots
    title: Root blockers
    filter:
      where: datname == params.database && blocking_total > 0 && len(blocked_by) == 0
  - id: to_terminate
    title: The roots again
    filter:
      from: roots
      where: "true"
  - id: never_one
    if: len(roots) > 100
    note: not shown
  - id: never_two
    if: len(roots) > 200
    note: not shown either
  - id: approved
    title: Approve terminating the roots
    confirm:
      targets: to_terminate
      action: terminate
  - id: terminate
    terminate:
      targets: approved
`

// stageLockChain stages a two-level chain in a new database: a session
// idle in its transaction holding a row lock, a writer waiting on it, and
// a second writer waiting behind the first (on the row's tuple lock).
func stageLockChain(t *testing.T) (db string, holder, first, second *incident.Session) {
	t.Helper()
	db = pgtest.CreateDatabase(t, "screen")
	dsn := pgtest.DSNFor(db)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := incident.CreateLockTable(ctx, dsn, "stock", 1); err != nil {
		t.Fatal(err)
	}
	var err error
	if holder, err = incident.IdleInTransaction(ctx, dsn, "screen-holder", "stock", 1); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(holder.Close)
	if first, err = incident.Writer(ctx, dsn, "screen-first", "stock", 1); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(first.Close)
	if second, err = incident.Writer(ctx, dsn, "screen-second", "stock", 1); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(second.Close)
	return db, holder, first, second
}

// raw returns everything written to the terminal, escape sequences and all.
func (s *screen) raw() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.buf.String()
}

func TestScreenOfALockChain(t *testing.T) {
	t.Parallel()
	db, holder, first, second := stageLockChain(t)
	book := filepath.Join(t.TempDir(), "screen-test.yaml")
	if err := os.WriteFile(book, []byte(screenPlaybook), 0o644); err != nil {
		t.Fatal(err)
	}
	args := []string{"run", book, "-d", pgtest.DSN(), "--set", "database=" + db}

	t.Run("interactive in colour", func(t *testing.T) {
		r := startInTerminal(t, args...)
		r.expect("roots: 1 session")
		r.expect("lock tree (root blocker, then who waits on it):")
		r.expect(fmt.Sprintf("pid %d postgres/screen-holder: idle in transaction for", holder.PID))
		r.expect(fmt.Sprintf("└─ pid %d postgres/screen-first: waits", first.PID))
		r.expect(fmt.Sprintf("   └─ pid %d postgres/screen-second: waits", second.PID))
		r.expect("to_terminate: 1 session, the same as roots above")
		r.expect("skipped 2 steps (conditions false): never_one, never_two")
		r.expect("candidates to terminate (approved): 1 session, none approved until answered")
		r.expect("idle ") // the holder's RUNTIME: how long it has been idle
		r.expect("acting on ")
		r.expect("Terminate this session?")
		r.awaitKeys()
		r.choose(3) // skip
		if code := r.wait(); code != 0 {
			r.fatalf("exit code %d, want 0", code)
		}
		evs := r.events()
		checkNoActions(t, evs)
		line := confirmServer(t, evs)
		text := strings.ReplaceAll(r.out.text(), "\r\n", "\n")
		if !strings.Contains(text, "    on "+line+"\n") {
			r.fatalf("the table of candidates is not headed by %q", "on "+line)
		}
		// The server is named on the line right above the question.
		i := strings.Index(text, "  acting on "+line+"\n")
		if i < 0 || !strings.HasPrefix(strings.TrimLeft(text[i+len("  acting on "+line+"\n"):], " "), "? Terminate this session?") {
			r.fatalf("the question is not right under %q", "acting on "+line)
		}
		raw := r.out.raw()
		for _, want := range []string{"\x1b[1;31mcandidates to terminate\x1b[0m", "\x1b[2mskipped 2 steps", "\x1b[1;31mTerminate this session?"} {
			if !strings.Contains(raw, want) {
				r.fatalf("the terminal output lacks %q", want)
			}
		}
	})

	t.Run("dry run with NO_COLOR", func(t *testing.T) {
		r := startInTerminalEnv(t, []string{"NO_COLOR=1"}, append(args, "--dry-run")...)
		r.expect("candidates to terminate (approved): 1 session, none approved until answered")
		r.expect("Dry run finished (exit 0): nothing was signalled.")
		r.expect(fmt.Sprintf("A real run would terminate pid %d (", holder.PID))
		if code := r.wait(); code != 0 {
			r.fatalf("exit code %d, want 0", code)
		}
		raw := r.out.raw()
		for _, style := range []string{"\x1b[1;31m", "\x1b[33m", "\x1b[2m"} {
			if strings.Contains(raw, style) {
				r.fatalf("with NO_COLOR the output holds the style %q", style)
			}
		}
		if strings.Contains(r.out.text(), "every check passed") {
			r.fatalf("a dry run says every check passed")
		}
	})
	for _, s := range []*incident.Session{first, second} {
		select {
		case <-s.Done():
			t.Errorf("pid %d stopped waiting: nothing was to be signalled", s.PID)
		default:
		}
	}
}

// confirmServer is the server line of the confirmation's selected event.
func confirmServer(t *testing.T, evs []transcript.Event) string {
	t.Helper()
	for _, ev := range evs {
		if ev.Type == transcript.Selected && ev.Kind == "confirm" && ev.ServerFacts != nil {
			return render.ServerLine(*ev.ServerFacts)
		}
	}
	t.Fatal("no confirmation carries server_facts")
	return ""
}
