package rehearse

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/pgrunbook/pgrunbook/engine"
	"github.com/pgrunbook/pgrunbook/internal/activity"
	"github.com/pgrunbook/pgrunbook/internal/incident"
	"github.com/pgrunbook/pgrunbook/internal/pg"
)

// Section titles of the scorecard.
const (
	secCulprits   = "Culprits: stopped, and how"
	secVictims    = "Queued sessions: must get through"
	secBystanders = "Bystanders: pid and backend_start, before → after"
	secLoad       = "Load"
	secSignals    = "Signals"
	secPlaybooks  = "Playbooks"
)

// SQLSTATEs the staged statements end with.
const (
	sqlstateQueryCanceled = "57014" // after pg_cancel_backend
	sqlstateAdminShutdown = "57P01" // after pg_terminate_backend
)

// sessionFacts is what was seen of one staged session after the run.
type sessionFacts struct {
	// finished: its client saw its statement end, with err.
	finished bool
	err      error
	// alive: its own connection still answers.
	alive bool
	// live is its row now (same pid and backend_start); nil if gone.
	live *incident.Backend
}

// playbookOutcome is how one playbook run ended.
type playbookOutcome struct {
	name   string
	ran    bool
	result engine.Result
}

// observation is everything the scorecard is judged on.
type observation struct {
	scenario string
	mode     engine.Mode
	cast     *incidentCast
	facts    map[*staged]sessionFacts
	// counter is the lock row's n, when the scenario has writers.
	counter int
	// load is nil without pgbench; then the fields below are unused.
	load         *load
	benchAfter   []incident.Backend
	benchSummary incident.PgbenchSummary
	benchErr     error
	playbooks    []playbookOutcome
	rec          *record
	// world is what the incident-wide checks look at (see worldAfter).
	world worldAfter
}

// evaluate builds the scorecard from an observation.
func evaluate(o *observation) *Scorecard {
	c := &Scorecard{Scenario: o.scenario, Mode: o.mode}
	for _, p := range o.playbooks {
		c.Playbooks = append(c.Playbooks, p.name)
		if p.result.ExitCode == engine.ExitAborted {
			c.Aborted = true
		}
	}
	dry := o.mode == engine.DryRun
	for _, s := range o.cast.ofRole(Culprit) {
		switch {
		case s.kind == IdleFlood:
			// Scored as one pool: see scoreFlood.
		case dry:
			scoreCulpritDry(c, s, o.facts[s], o.rec)
		default:
			scoreCulprit(c, s, o.facts[s], o)
		}
	}
	scoreFlood(c, o, dry)
	scoreVictims(c, o, dry)
	scoreWorld(c, o, dry)
	for _, s := range o.cast.ofRole(Bystander) {
		scoreBystander(c, s, o.facts[s], o.rec)
	}
	scoreLoad(c, o)
	scoreSignals(c, o, dry)
	for i, p := range o.playbooks {
		kind := Resolution
		if dry {
			kind = Integrity
		}
		switch {
		case !p.ran:
			c.add(secPlaybooks, false, kind, "%s: not run (the run before it did not finish)", p.name)
		case p.result.ExitCode == engine.ExitOK:
			c.add(secPlaybooks, true, kind, "%s: %s, exit %d", p.name, p.result.Outcome, p.result.ExitCode)
		case p.result.ExitCode == engine.ExitFailed && !dry && failedOnReturnedStorm(o, i+1) != "":
			c.add(secPlaybooks, true, kind, "%s: %s, exit %d: only its check %q failed, on storm sessions that came back: its way of saying the incident is not over (expected)",
				p.name, p.result.Outcome, p.result.ExitCode, failedOnReturnedStorm(o, i+1))
		default:
			c.add(secPlaybooks, false, kind, "%s: %s, exit %d%s", p.name, p.result.Outcome, p.result.ExitCode, paren(p.result.Message))
		}
	}
	if !dry {
		if d, ok := o.rec.timeToMitigate(); ok && c.Resolved() {
			c.TimeToMitigate, c.Mitigated = d, true
			c.FirstSnapshot, c.LastGoodVerify = o.rec.mitigation.From, o.rec.mitigation.At
		}
	}
	return c
}

// label names a staged session in a check.
func label(s *staged) string { return fmt.Sprintf("%s (pid %d)", s.name, s.pid) }

// scoreCulprit judges a culprit after a real run.
func scoreCulprit(c *Scorecard, s *staged, f sessionFacts, o *observation) {
	rec := o.rec
	cancelled, terminated := rec.sent(s.pid, activity.Cancel), rec.sent(s.pid, activity.Terminate)
	gone := f.live == nil
	if s.kind.cancellable() {
		stopped := f.finished || gone
		extra := cancellableExtra(s, o.world)
		switch {
		case !stopped:
			c.add(secCulprits, false, Resolution, "%s: still running (cancel sent: %s)%s", label(s), yesNo(cancelled), extra)
		case gone:
			c.add(secCulprits, false, Collateral, "%s: statement stopped (%s), but the session was terminated: its client lost its connection, where a cancel would have kept it%s",
				label(s), endedWith(f), extra)
		default:
			how := "cancelled"
			if !cancelled {
				how = "ended, though no cancel was sent"
			}
			c.add(secCulprits, f.alive && cancelled, Resolution, "%s: statement %s (%s); session kept: same pid and backend_start, still answering: %s%s",
				label(s), how, endedWith(f), yesNo(f.alive), extra)
		}
		return
	}
	how := "no signal sent"
	switch {
	case cancelled && rec.verifyFailed[s.pid] && terminated:
		how = "cancel sent and ignored (its verify failed), then terminated"
	case cancelled && terminated:
		how = "cancel sent, then terminated"
	case terminated:
		how = "terminated"
	case cancelled:
		how = "cancel sent"
	}
	what := map[Kind]string{
		StubbornQuery:     "its statement ended with it",
		IdleInTransaction: "transaction rolled back, row lock released",
		ClientNotReading:  "blocked write abandoned",
		SnapshotHolder:    "transaction ended, its snapshot released",
		DeadClient:        "the dead host's connection closed",
	}[s.kind]
	if gone {
		c.add(secCulprits, true, Resolution, "%s: %s; session gone, %s", label(s), how, what)
		return
	}
	c.add(secCulprits, false, Resolution, "%s: still there (%s); %s", label(s), describe(f.live), how)
}

// cancellableExtra adds what a cancellable culprit's kind shows beyond
// its statement: a storm session's re-issues, a hog's CPU time.
func cancellableExtra(s *staged, w worldAfter) string {
	switch s.kind {
	case StormQuery:
		sf := w.storm[s]
		return fmt.Sprintf("; its client saw %d cancel(s) and issued the statement %d time(s) in all", sf.cancels, sf.runs)
	case CPUHog:
		if used, ok := w.cpu[s]; ok {
			return fmt.Sprintf("; it had burnt %s of CPU", used.Round(10*time.Millisecond))
		}
	}
	return ""
}

// scoreCulpritDry checks that a dry run left a culprit as it was.
func scoreCulpritDry(c *Scorecard, s *staged, f sessionFacts, rec *record) {
	var would []string
	for _, fn := range []activity.Function{activity.Cancel, activity.Terminate} {
		if rec.wouldSend(s.pid, fn) {
			would = append(would, fnName(fn))
		}
	}
	next := "the dry run recorded no action for it"
	if len(would) > 0 {
		next = "the dry run recorded: " + strings.Join(would, ", then ")
	}
	present := f.live != nil && !f.finished
	if present {
		// The staged state, not just the session, must still be there.
		switch s.kind {
		case IdleInTransaction, SnapshotHolder:
			present = f.live.State == "idle in transaction"
		case ClientNotReading:
			present = f.live.WaitEvent == "ClientWrite"
		case QueuedDDL:
			present = f.live.State == "active" && f.live.WaitEventType == "Lock"
		case DeadClient, IdleFlood:
			present = f.live.State == "idle"
		default:
			present = f.live.State == "active"
		}
	}
	what := "gone"
	switch {
	case present:
		what = "still there, untouched (" + describe(f.live) + ")"
	case f.live != nil:
		what = "NOT as staged any more (" + describe(f.live) + ")"
	}
	c.add(secCulprits, present && !rec.signalled(s.pid), Integrity, "%s: %s; %s; %s", label(s), what, signalledText(rec.signalled(s.pid)), next)
}

// scoreVictims judges the sessions queued behind the culprits (writers
// behind the row lock, reads behind the ALTER) and the locked row.
func scoreVictims(c *Scorecard, o *observation, dry bool) {
	writers := 0
	for _, s := range o.cast.ofRole(Victim) {
		if s.kind == QueuedWriter {
			writers++
		}
		f := o.facts[s]
		signalled := o.rec.signalled(s.pid)
		stmt, got := "UPDATE", "committed once the lock was free"
		if s.kind == QueuedReader {
			stmt, got = "SELECT", "completed once the ALTER was out of the queue"
		}
		switch {
		case dry:
			waiting := !f.finished && f.live != nil && f.live.WaitEventType == "Lock"
			what := "still waiting for the lock, untouched"
			if !waiting {
				what = "NOT waiting for the lock any more (" + endedWith(f) + ")"
			}
			c.add(secVictims, waiting && !signalled, Integrity, "%s: %s; %s", label(s), what, signalledText(signalled))
		case f.finished && f.err == nil && !signalled:
			c.add(secVictims, true, Resolution, "%s: its %s %s; not signalled", label(s), stmt, got)
		case f.finished || signalled:
			c.add(secVictims, false, Collateral, "%s: its %s was lost (%s); %s", label(s), stmt, endedWith(f), signalledText(signalled))
		default:
			c.add(secVictims, false, Resolution, "%s: its %s still waits for the lock", label(s), stmt)
		}
	}
	if writers == 0 {
		return
	}
	if dry {
		c.add(secVictims, o.counter == 0, Integrity, "%s row %d: n = %d (0: nothing committed, the idle transaction still holds the row)", lockTable, lockRow, o.counter)
		return
	}
	c.add(secVictims, o.counter == writers, Resolution, "%s row %d: n = %d (%d: every writer committed, the idle transaction's update rolled back)",
		lockTable, lockRow, o.counter, writers)
}

// scoreBystander checks that a bystander kept its session (and, for the
// backup, its statement).
func scoreBystander(c *Scorecard, s *staged, f sessionFacts, rec *record) {
	after := "gone"
	if f.live != nil {
		after = fmt.Sprintf("pid %d started %s", f.live.PID, started(f.live.BackendStart))
	}
	ok := f.live != nil && f.alive && !rec.signalled(s.pid)
	extra := ""
	if s.kind == Backup {
		running := !f.finished && f.live != nil && f.live.State == "active"
		ok = ok && running
		extra = "; its statement still running: " + yesNo(running)
		if f.finished {
			extra += " (" + endedWith(f) + ")"
		}
	}
	c.add(secBystanders, ok, Collateral, "%s: pid %d started %s → %s%s; %s",
		s.name, s.pid, started(s.backendStart), after, extra, signalledText(rec.signalled(s.pid)))
}

// scoreLoad checks pgbench's backends and its report.
func scoreLoad(c *Scorecard, o *observation) {
	if o.load == nil {
		c.add(secLoad, true, Integrity, "no pgbench load (--clients 0)")
		return
	}
	var touched []int
	for _, b := range o.load.before {
		if o.rec.signalled(b.PID) {
			touched = append(touched, b.PID)
		}
	}
	if sameBackends(o.load.before, o.benchAfter) && len(touched) == 0 {
		c.add(secBystanders, true, Collateral, "pgbench: %d sessions, every pid and backend_start unchanged (%s); none signalled",
			len(o.load.before), pidList(o.load.before))
	} else {
		c.add(secBystanders, false, Collateral, "pgbench: %s; signalled: %s", backendChanges(o.load.before, o.benchAfter), intsOrNone(touched))
	}
	if o.benchErr != nil {
		c.add(secLoad, false, Integrity, "pgbench printed no report: %v", o.benchErr)
		return
	}
	sum := o.benchSummary
	c.add(secLoad, sum.Failed == 0 && sum.Aborted == 0 && !sum.Incomplete && sum.ExitCode == 0, Collateral,
		"pgbench: %d failed transactions, %d of %d clients aborted, exit %d (%d transactions, %.0f tps)",
		sum.Failed, sum.Aborted, sum.Clients, sum.ExitCode, sum.Processed, sum.TPS)
}

// scoreSignals checks that signals went to culprits only. In a dry run
// it checks that nothing was signalled, and that what the real run would
// send stays with the culprits: a bystander targeted is collateral
// damage, and so is a queued writer targeted by the first playbook. (A
// later playbook of a dry run still sees the writers queued, since the
// earlier ones released nothing; for real they would have committed.)
func scoreSignals(c *Scorecard, o *observation, dry bool) {
	pids := make([]int, 0, len(o.rec.actions))
	for pid := range o.rec.actions {
		pids = append(pids, pid)
	}
	slices.Sort(pids)
	var sent, others []string
	real, laterVictims := 0, 0
	for _, pid := range pids {
		name := fmt.Sprintf("pid %d", pid)
		role := Bystander // a session the rehearsal did not stage: pgbench's, or another
		if s := o.cast.byPID(pid); s != nil {
			name, role = label(s), s.role()
		} else if o.load != nil && slices.ContainsFunc(o.load.before, func(b incident.Backend) bool { return b.PID == pid }) {
			name = fmt.Sprintf("pgbench (pid %d)", pid)
		}
		for _, a := range o.rec.actions[pid] {
			if a.outcome == activity.Signalled {
				real++
			}
			want := activity.Signalled
			if dry {
				want = activity.DryRun
			}
			if a.outcome != want {
				continue
			}
			line := fmt.Sprintf("%s %s", fnName(a.function), name)
			sent = append(sent, line)
			switch {
			case role == Culprit:
			case dry && role == Victim && a.run > 1:
				laterVictims++
			default:
				others = append(others, line)
			}
		}
	}
	if !dry {
		c.add(secSignals, len(others) == 0, Collateral, "signals sent: %s%s", listOrNothing(sent), notCulprits(others))
		return
	}
	c.add(secSignals, real == 0, Integrity, "signals sent: %d (a dry run sends none)", real)
	suffix := "; no bystander among them"
	if len(others) > 0 {
		suffix = "; NOT CULPRITS: " + strings.Join(others, ", ")
	} else if laterVictims > 0 {
		suffix = "; no bystander among them (the writers only because the later playbook's dry run still saw them queued)"
	}
	c.add(secSignals, len(others) == 0, Collateral, "the dry run recorded, with every escalation (nothing it cancels stops): %s%s",
		listOrNothing(sent), suffix)
}

// fnName shortens a signalling function for a list.
func fnName(fn activity.Function) string { return fn.Verb() }

// notCulprits says which signals went to sessions that are not culprits.
func notCulprits(others []string) string {
	if len(others) == 0 {
		return "; all to culprits"
	}
	return "; NOT CULPRITS: " + strings.Join(others, ", ")
}

func listOrNothing(xs []string) string {
	if len(xs) == 0 {
		return "none"
	}
	return strings.Join(xs, ", ")
}

// backendChanges describes how pgbench's sessions changed.
func backendChanges(before, after []incident.Backend) string {
	now := map[int]incident.Backend{}
	for _, b := range after {
		now[b.PID] = b
	}
	var parts []string
	for _, b := range before {
		a, ok := now[b.PID]
		switch {
		case !ok:
			parts = append(parts, fmt.Sprintf("pid %d started %s → gone", b.PID, started(b.BackendStart)))
		case !a.BackendStart.Equal(b.BackendStart):
			parts = append(parts, fmt.Sprintf("pid %d started %s → a new session started %s", b.PID, started(b.BackendStart), started(a.BackendStart)))
		}
		delete(now, b.PID)
	}
	for pid := range now {
		parts = append(parts, fmt.Sprintf("new session pid %d", pid))
	}
	slices.Sort(parts)
	return fmt.Sprintf("%d sessions before, %d after: %s", len(before), len(after), strings.Join(parts, "; "))
}

// describe says what a session is doing now.
func describe(b *incident.Backend) string {
	s := "state " + b.State
	if b.WaitEvent != "" {
		s += ", wait_event " + b.WaitEvent
	}
	return s
}

// endedWith says how a session's statement ended, as its client saw it.
func endedWith(f sessionFacts) string {
	if !f.finished {
		return "its client has not seen it end"
	}
	if f.err == nil {
		return "completed"
	}
	switch code := pg.SQLState(f.err); code {
	case sqlstateQueryCanceled:
		return "SQLSTATE 57014, canceled"
	case sqlstateAdminShutdown:
		return "SQLSTATE 57P01, terminated"
	case "":
	default:
		return "SQLSTATE " + code
	}
	return "connection lost"
}

func pidList(bs []incident.Backend) string {
	parts := make([]string, len(bs))
	for i, b := range bs {
		parts[i] = fmt.Sprint(b.PID)
	}
	return "pids " + strings.Join(parts, " ")
}

func intsOrNone(xs []int) string {
	if len(xs) == 0 {
		return "none"
	}
	parts := make([]string, len(xs))
	for i, x := range xs {
		parts[i] = fmt.Sprint(x)
	}
	return strings.Join(parts, " ")
}

// signalledText says whether a session that should have been left alone
// was signalled.
func signalledText(signalled bool) string {
	if signalled {
		return "SIGNALLED"
	}
	return "not signalled"
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "NO"
}

func paren(s string) string {
	if s == "" {
		return ""
	}
	return " (" + s + ")"
}
