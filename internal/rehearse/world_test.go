package rehearse

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/pgrunbook/pgrunbook/engine"
	"github.com/pgrunbook/pgrunbook/internal/activity"
	"github.com/pgrunbook/pgrunbook/internal/incident"
	"github.com/pgrunbook/pgrunbook/internal/transcript"
)

// Fixture-level tests of the incident-wide checks: observations built by
// hand, as a good run leaves them, then spoilt.

var t0 = time.Date(2026, 12, 1, 3, 0, 0, 0, time.UTC)

// castOf stages sessions by hand: kind, name and pid.
func castOf(ss ...*staged) *incidentCast {
	for _, s := range ss {
		if s.app == "" {
			s.app = s.name
		}
		s.backendStart = t0
	}
	return &incidentCast{sessions: ss}
}

// live is a session's row after the run.
func live(s *staged, state, waitType string) *incident.Backend {
	return &incident.Backend{PID: s.pid, BackendStart: s.backendStart, State: state, WaitEventType: waitType}
}

// check returns the scorecard line that contains text, failing if none.
func check(t *testing.T, c *Scorecard, text string) Check {
	t.Helper()
	for _, s := range c.Sections {
		for _, ch := range s.Checks {
			if strings.Contains(ch.Text, text) {
				return ch
			}
		}
	}
	t.Fatalf("no check says %q:\n%s", text, c)
	return Check{}
}

// wantCheck fails unless the line holding text has the given outcome.
func wantCheck(t *testing.T, c *Scorecard, text string, ok bool, kind CheckKind) {
	t.Helper()
	if ch := check(t, c, text); ch.OK != ok || ch.Kind != kind {
		t.Errorf("check %q: ok %v kind %d, want ok %v kind %d\n%s", ch.Text, ch.OK, ch.Kind, ok, kind, c)
	}
}

// ddlScene is a ddl-lock-queue run in which the ALTER was cancelled.
func ddlScene() *observation {
	backup := &staged{kind: Backup, name: "pg_dump", pid: 10}
	alter := &staged{kind: QueuedDDL, name: "migrate", pid: 11}
	read := &staged{kind: QueuedReader, name: "storefront-1", pid: 12}
	cast := castOf(backup, alter, read)
	held := incident.RelationLock{PID: 10, Mode: "AccessShareLock", Granted: true}
	cast.before.locks = []incident.RelationLock{held, {PID: 11, Mode: "AccessExclusiveLock"}, {PID: 12, Mode: "AccessShareLock"}}
	rec := newRecord()
	rec.add(1, []transcript.Event{{Seq: 5, Type: transcript.Action, PID: 11, Function: activity.Cancel, Outcome: "signalled"}})
	return &observation{
		scenario: "ddl-lock-queue", mode: engine.Yes, cast: cast, rec: rec,
		facts: map[*staged]sessionFacts{
			backup: {alive: true, live: live(backup, "active", "Timeout")},
			alter:  {finished: true, err: &pgconn.PgError{Code: "57014"}, alive: true, live: live(alter, "idle", "")},
			read:   {finished: true, alive: true, live: live(read, "idle", "")},
		},
		world: worldAfter{locks: []incident.RelationLock{held}},
	}
}

func TestScoreLockQueue(t *testing.T) {
	t.Run("the ALTER cancelled", func(t *testing.T) {
		c := evaluate(ddlScene())
		wantCheck(t, c, "column note of stock: absent", true, Resolution)
		wantCheck(t, c, "still waiting for a lock on stock: none", true, Resolution)
		wantCheck(t, c, "pg_dump (pid 10) still holds its AccessShareLock on stock: yes", true, Collateral)
		wantCheck(t, c, "migrate (pid 11): statement cancelled", true, Resolution)
		wantCheck(t, c, "storefront-1 (pid 12): its SELECT completed", true, Resolution)
		if !c.Resolved() || c.CollateralDamage() {
			t.Errorf("verdict %q\n%s", c.Verdict(), c)
		}
	})
	t.Run("the backup cancelled instead", func(t *testing.T) {
		o := ddlScene()
		backup, alter := o.cast.sessions[0], o.cast.sessions[1]
		o.rec = newRecord()
		o.rec.add(1, []transcript.Event{{Seq: 5, Type: transcript.Action, PID: 10, Function: activity.Cancel, Outcome: "signalled"}})
		o.facts[backup] = sessionFacts{finished: true, err: &pgconn.PgError{Code: "57014"}, live: live(backup, "idle in transaction (aborted)", "")}
		o.facts[alter] = sessionFacts{finished: true, alive: true, live: live(alter, "idle", "")}
		o.world = worldAfter{columnExists: true}
		c := evaluate(o)
		wantCheck(t, c, "column note of stock EXISTS", false, Resolution)
		wantCheck(t, c, "still holds its AccessShareLock on stock: NO", false, Collateral)
		wantCheck(t, c, "migrate (pid 11): statement ended, though no cancel was sent", false, Resolution)
		wantCheck(t, c, "NOT CULPRITS: cancel pg_dump (pid 10)", false, Collateral)
		if c.Verdict() != "NOT RESOLVED, and with COLLATERAL DAMAGE" {
			t.Errorf("verdict %q", c.Verdict())
		}
	})
	t.Run("the reads still queued", func(t *testing.T) {
		o := ddlScene()
		read := o.cast.sessions[2]
		o.facts[read] = sessionFacts{alive: true, live: live(read, "active", "Lock")}
		o.world.locks = append(o.world.locks, incident.RelationLock{PID: 12, Mode: "AccessShareLock"})
		c := evaluate(o)
		wantCheck(t, c, "still waiting for a lock on stock: 12 (storefront-1) waits for AccessShareLock", false, Resolution)
		wantCheck(t, c, "storefront-1 (pid 12): its SELECT still waits", false, Resolution)
	})
	t.Run("dry run", func(t *testing.T) {
		o := ddlScene()
		o.mode, o.rec = engine.DryRun, newRecord()
		o.world.locks = o.cast.before.locks
		c := evaluate(o)
		wantCheck(t, c, "pg_locks on stock as staged: 10 (pg_dump) holds AccessShareLock ← 11 (migrate) waits for AccessExclusiveLock", true, Integrity)
		o.world.locks = o.world.locks[:1]
		c = evaluate(o)
		wantCheck(t, c, "pg_locks on stock as staged", false, Integrity)
	})
}

// floodScene is a connection-exhaustion run that terminated three of four
// flood sessions, freeing enough slots.
func floodScene() *observation {
	var ss []*staged
	for i := range 4 {
		ss = append(ss, &staged{kind: IdleFlood, name: "webapp#" + string(rune('1'+i)), app: "webapp", pid: 20 + i})
	}
	other := &staged{kind: OtherApp, name: "billing#1", app: "billing", pid: 30}
	cast := castOf(append(ss, other)...)
	cast.before.slots = incident.Slots{Max: 20, Reserved: 3, Used: 17}
	cast.before.slotsRead = true
	cast.before.refused = &incident.Refusal{Code: "53300"}
	o := &observation{scenario: "connection-exhaustion", mode: engine.Yes, cast: cast, rec: newRecord(), facts: map[*staged]sessionFacts{}}
	var evs []transcript.Event
	for _, s := range ss[:3] {
		o.facts[s] = sessionFacts{}
		evs = append(evs, transcript.Event{Type: transcript.Action, PID: s.pid, Function: activity.Terminate, Outcome: "signalled"})
	}
	o.facts[ss[3]] = sessionFacts{alive: true, live: live(ss[3], "idle", "")}
	o.facts[other] = sessionFacts{alive: true, live: live(other, "idle", "")}
	o.rec.add(1, evs)
	o.world = worldAfter{slots: incident.Slots{Max: 20, Reserved: 3, Used: 12}}
	return o
}

func TestScoreSlots(t *testing.T) {
	c := evaluate(floodScene())
	wantCheck(t, c, "as staged: 0 of 17 ordinary slots free (max_connections 20, 3 reserved, 17 in use); webapp's next connection was refused with SQLSTATE 53300", true, Integrity)
	wantCheck(t, c, "after: 5 of 17 ordinary slots free", true, Resolution)
	wantCheck(t, c, "a new webapp session gets in again: yes", true, Resolution)
	wantCheck(t, c, "webapp: 3 of 4 idle sessions terminated and gone", true, Resolution)
	if !c.Resolved() || c.CollateralDamage() {
		t.Errorf("verdict %q\n%s", c.Verdict(), c)
	}

	o := floodScene()
	o.world = worldAfter{slots: incident.Slots{Max: 20, Reserved: 3, Used: 15}, connectErr: errors.New("SQLSTATE 53300")}
	c = evaluate(o)
	wantCheck(t, c, "after: 2 of 17 ordinary slots free", false, Resolution)
	wantCheck(t, c, "a new webapp session gets in again: NO", false, Resolution)

	o = floodScene()
	o.mode, o.rec = engine.DryRun, newRecord()
	for _, s := range o.cast.sessions {
		o.facts[s] = sessionFacts{alive: true, live: live(s, "idle", "")}
	}
	o.rec.add(1, []transcript.Event{{Type: transcript.Action, PID: 20, Function: activity.Terminate, Outcome: "dry_run"}})
	o.world = worldAfter{slots: o.cast.before.slots, connectErr: errors.New("SQLSTATE 53300")}
	c = evaluate(o)
	wantCheck(t, c, "after the dry run: 0 of 17", true, Integrity)
	wantCheck(t, c, "webapp: 4 of 4 idle sessions still there, untouched; 0 signalled; the dry run recorded a terminate for 1 of them", true, Integrity)
	if c.ExitCode() != 0 {
		t.Errorf("dry run: exit %d\n%s", c.ExitCode(), c)
	}
}

// xminScene is an xmin-horizon run that terminated the holder.
func xminScene() *observation {
	holder := &staged{kind: SnapshotHolder, name: "analytics", pid: 40}
	cast := castOf(holder)
	cast.before.pinnedXmin = "741"
	rec := newRecord()
	rec.add(1, []transcript.Event{{Type: transcript.Action, PID: 40, Function: activity.Terminate, Outcome: "signalled"}})
	return &observation{scenario: "xmin-horizon", mode: engine.Yes, cast: cast, rec: rec,
		facts: map[*staged]sessionFacts{holder: {}}}
}

func TestScoreHorizon(t *testing.T) {
	c := evaluate(xminScene())
	wantCheck(t, c, "xmin 741, pinned by analytics (pid 40): no session, replication slot or prepared transaction holds it", true, Resolution)
	wantCheck(t, c, "analytics (pid 40): terminated; session gone, transaction ended, its snapshot released", true, Resolution)

	o := xminScene()
	o.world.holders = []incident.XminHolder{{Kind: "replication slot", Name: "standby", Xid: "700"}}
	c = evaluate(o)
	wantCheck(t, c, "xmin 741 is still held: replication slot standby, xmin 700", false, Resolution)

	o = xminScene()
	holder := o.cast.sessions[0]
	o.mode, o.rec = engine.DryRun, newRecord()
	o.facts[holder] = sessionFacts{alive: true, live: live(holder, "idle in transaction", "Client")}
	o.world.holders = []incident.XminHolder{{Kind: "session", Name: "40", App: "analytics", Xid: "741"}}
	c = evaluate(o)
	wantCheck(t, c, "xmin 741: still pinned by analytics (pid 40), as staged", true, Integrity)
	o.world.holders = nil
	c = evaluate(o)
	wantCheck(t, c, "xmin 741: still pinned", false, Integrity)
}

// stormScene is a query-storm run: two sessions cancelled, both came
// back, and the playbook noted it after the cancel.
func stormScene() *observation {
	a := &staged{kind: StormQuery, name: "api#1", app: "api", pid: 50}
	b := &staged{kind: StormQuery, name: "api#2", app: "api", pid: 51}
	cast := castOf(a, b)
	rec := newRecord()
	rec.add(1, []transcript.Event{
		{Seq: 2, Type: transcript.Note, Title: "About this playbook", Text: "Cancelling a storm only buys time: it comes back."},
		{Seq: 5, Type: transcript.Action, PID: 50, Function: activity.Cancel, Outcome: "signalled"},
		{Seq: 6, Type: transcript.Action, PID: 51, Function: activity.Cancel, Outcome: "signalled"},
		{Seq: 9, Type: transcript.Note, Step: "back", Title: "The storm came back", Text: "Stop the source."},
	})
	canceled := &pgconn.PgError{Code: "57014"}
	return &observation{scenario: "query-storm", mode: engine.Yes, cast: cast, rec: rec,
		facts: map[*staged]sessionFacts{
			a: {finished: true, err: canceled, alive: true, live: live(a, "active", "Timeout")},
			b: {finished: true, err: canceled, alive: true, live: live(b, "active", "Timeout")},
		},
		world: worldAfter{storm: map[*staged]stormFacts{a: {runs: 2, cancels: 1}, b: {runs: 2, cancels: 1}}},
	}
}

func TestScoreStorm(t *testing.T) {
	c := evaluate(stormScene())
	wantCheck(t, c, "the storm came back: 2 of the 2 cancelled sessions re-issued the statement", true, Integrity)
	wantCheck(t, c, `the playbook told the operator it came back: note "The storm came back" after the cancel (playbook 1 of the rehearsal)`, true, Resolution)
	wantCheck(t, c, "api#2 (pid 51): statement cancelled (SQLSTATE 57014, canceled); session kept", true, Resolution)
	wantCheck(t, c, "its client saw 1 cancel(s) and issued the statement 2 time(s) in all", true, Resolution)
	if !c.Resolved() {
		t.Errorf("verdict %q\n%s", c.Verdict(), c)
	}

	// The guidance says "comes back" before any cancel; a note of another
	// playbook run, after no cancel of its own, does not count either.
	o := stormScene()
	o.rec = newRecord()
	o.rec.add(1, []transcript.Event{
		{Seq: 2, Type: transcript.Note, Title: "About this playbook", Text: "It comes back."},
		{Seq: 5, Type: transcript.Action, PID: 50, Function: activity.Cancel, Outcome: "signalled"},
		{Seq: 6, Type: transcript.Action, PID: 51, Function: activity.Cancel, Outcome: "signalled"},
		{Seq: 7, Type: transcript.Note, Title: "Cancelled", Text: "The statements stopped."},
	})
	o.rec.add(2, []transcript.Event{{Seq: 3, Type: transcript.Note, Text: "The storm came back."}})
	c = evaluate(o)
	wantCheck(t, c, "the playbook did not tell the operator that the storm came back", false, Resolution)

	o = stormScene()
	o.world.storm[o.cast.sessions[1]] = stormFacts{runs: 1, cancels: 1}
	c = evaluate(o)
	wantCheck(t, c, "the storm came back: 1 of the 2 cancelled sessions", false, Integrity)

	// Terminating a storm session costs its client the connection.
	o = stormScene()
	a := o.cast.sessions[0]
	o.facts[a] = sessionFacts{finished: true, err: &pgconn.PgError{Code: "57P01"}}
	c = evaluate(o)
	wantCheck(t, c, "api#1 (pid 50): statement stopped (SQLSTATE 57P01, terminated), but the session was terminated", false, Collateral)

	o = stormScene()
	o.mode, o.rec = engine.DryRun, newRecord()
	for _, s := range o.cast.sessions {
		o.facts[s] = sessionFacts{alive: true, live: live(s, "active", "Timeout")}
		o.world.storm[s] = stormFacts{runs: 1}
	}
	c = evaluate(o)
	wantCheck(t, c, "storm sessions that saw a cancel: 0 of 2", true, Integrity)
	wantCheck(t, c, "api#1 (pid 50): still there, untouched", true, Integrity)
}

func TestStormReturnedPattern(t *testing.T) {
	for text, want := range map[string]bool{
		"The storm came back":                 true,
		"4 sessions are back running it":      true,
		"the statement returned after 2s":     true,
		"re-issued by the application":        true,
		"the cancel recurred":                 true,
		"Cancelled 4 statements":              false,
		"backup sessions were left untouched": false,
	} {
		if got := StormReturnedPattern.MatchString(text); got != want {
			t.Errorf("StormReturnedPattern on %q = %v, want %v", text, got, want)
		}
	}
}

func TestScoreDeadClientsAndCPUHog(t *testing.T) {
	dead := &staged{kind: DeadClient, name: "worker#1", app: "worker", pid: 60}
	hog := &staged{kind: CPUHog, name: "adhoc", pid: 61}
	o := &observation{scenario: "x", mode: engine.Yes, cast: castOf(dead, hog), rec: newRecord(),
		facts: map[*staged]sessionFacts{
			dead: {},
			hog:  {finished: true, err: &pgconn.PgError{Code: "57014"}, alive: true, live: live(hog, "idle", "")},
		},
		world: worldAfter{cpu: map[*staged]time.Duration{hog: 2340 * time.Millisecond}},
	}
	o.rec.add(1, []transcript.Event{
		{Type: transcript.Action, PID: 60, Function: activity.Terminate, Outcome: "signalled"},
		{Type: transcript.Action, PID: 61, Function: activity.Cancel, Outcome: "signalled"},
	})
	c := evaluate(o)
	wantCheck(t, c, "worker#1 (pid 60): terminated; session gone, the dead host's connection closed", true, Resolution)
	wantCheck(t, c, "adhoc (pid 61): statement cancelled (SQLSTATE 57014, canceled); session kept: same pid and backend_start, still answering: yes; it had burnt 2.34s of CPU", true, Resolution)

	// A dead client that was only cancelled is still there.
	o.rec = newRecord()
	o.rec.add(1, []transcript.Event{{Type: transcript.Action, PID: 60, Function: activity.Cancel, Outcome: "signalled"}})
	o.facts[dead] = sessionFacts{alive: true, live: live(dead, "idle", "")}
	c = evaluate(o)
	wantCheck(t, c, "worker#1 (pid 60): still there (state idle); cancel sent", false, Resolution)
}

// TestStormPlaybookFailingOnTheReturn: a storm playbook whose only failed
// check, after its cancel, is on storm sessions that came back is
// reporting the storm, not failing; a failed check on anything else is a
// failure.
func TestStormPlaybookFailingOnTheReturn(t *testing.T) {
	o := stormScene()
	o.rec = newRecord()
	o.rec.add(1, []transcript.Event{
		{Seq: 5, Type: transcript.Action, PID: 50, Function: activity.Cancel, Outcome: "signalled"},
		{Seq: 6, Type: transcript.Action, PID: 51, Function: activity.Cancel, Outcome: "signalled"},
		{Seq: 7, Type: transcript.Verified, Step: "stopped", Passed: []int{50, 51}},
		{Seq: 9, Type: transcript.Verified, Step: "storm_over", Failed: []int{50, 51}},
	})
	o.playbooks = []playbookOutcome{{name: "cancel-query-storm", ran: true, result: engine.Result{Outcome: "failed", ExitCode: engine.ExitFailed}}}
	c := evaluate(o)
	wantCheck(t, c, `cancel-query-storm: failed, exit 1: only its check "storm_over" failed, on storm sessions that came back`, true, Resolution)
	wantCheck(t, c, `the playbook told the operator it came back: its check "storm_over" failed on the storm sessions that came back`, true, Resolution)
	if !c.Resolved() || c.ExitCode() != 0 {
		t.Errorf("verdict %q, exit %d\n%s", c.Verdict(), c.ExitCode(), c)
	}

	// A session that did not come back failing the check is a failure.
	o.world.storm[o.cast.sessions[1]] = stormFacts{runs: 1, cancels: 1}
	c = evaluate(o)
	wantCheck(t, c, "cancel-query-storm: failed, exit 1", false, Resolution)

	// So is a check that failed before any cancel.
	o = stormScene()
	o.rec.add(1, []transcript.Event{{Seq: 1, Type: transcript.Verified, Step: "early", Failed: []int{50}}})
	if step := failedOnReturnedStorm(o, 1); step != "" {
		t.Errorf("failedOnReturnedStorm with a failed check before the cancel = %q, want none", step)
	}
}
