package render

import (
	"fmt"
	"slices"
	"strings"

	"github.com/pgrunbook/pgrunbook/internal/activity"
	"github.com/pgrunbook/pgrunbook/internal/transcript"
)

// screen is what a Renderer remembers of what it has shown, so the next
// event can be told in relation to it: only from events, so that a replay
// shows a run as it was seen.
type screen struct {
	// mode is the run's mode, from run_started.
	mode transcript.Mode
	// skipped holds consecutive steps skipped by their condition, shown
	// as one line before the next event.
	skipped []transcript.Event
	// known are the rows of the latest snapshot, by pid, for lock trees.
	known map[int]*activity.Session
	// shownSet and shownIDs are the set whose table was shown last.
	shownSet string
	shownIDs []activity.SessionKey
	// confirmFn is the action of the confirmation being asked.
	confirmFn activity.Function
	// dryRun lists, per function, the pids a dry run would have signalled.
	dryRun map[activity.Function][]int
}

func identities(rows []activity.Session) []activity.SessionKey {
	out := make([]activity.SessionKey, len(rows))
	for i := range rows {
		out[i] = rows[i].Key()
	}
	slices.SortFunc(out, func(a, b activity.SessionKey) int { return a.PID - b.PID })
	return out
}

// flushSkipped shows the steps skipped since the last other event on one
// quiet line.
func (r *Renderer) flushSkipped() {
	if len(r.skipped) == 0 {
		return
	}
	ids := make([]string, len(r.skipped))
	for i, ev := range r.skipped {
		ids[i] = ev.Step
		if ids[i] == "" {
			ids[i] = fmt.Sprintf("step%d", ev.StepIndex)
		}
	}
	line := fmt.Sprintf("skipped %d steps (conditions false): %s", len(ids), strings.Join(ids, ", "))
	if len(ids) == 1 {
		line = fmt.Sprintf("skipped 1 step (condition false): %s", ids[0])
	}
	fmt.Fprintf(r.W, "\n    %s\n", r.quiet(line))
	r.skipped = r.skipped[:0]
}

// remember keeps a snapshot's rows for the lock trees that follow.
func (r *Renderer) remember(rows []activity.Session) {
	if len(rows) == 0 {
		return
	}
	r.known = make(map[int]*activity.Session, len(rows))
	for i := range rows {
		r.known[rows[i].PID] = &rows[i]
	}
}

// restates reports whether rows are the very sessions of the table shown
// last, so that showing them again in full would only repeat it.
func (r *Renderer) restates(rows []activity.Session) bool {
	return r.shownSet != "" && slices.Equal(identities(rows), r.shownIDs)
}

// table shows a set's sessions and, when some wait on or block others,
// their lock tree.
func (r *Renderer) table(set string, rows []activity.Session) {
	sessionTable(r.W, rows, nil, r.width(), "    ", r.Color)
	lockTree(r.W, rows, r.known, "    ", r.Color)
	r.shownSet, r.shownIDs = set, identities(rows)
}

// prompt shows a confirmation's question and its answer.
func (r *Renderer) prompt(ev transcript.Event) {
	question := ev.Question
	if r.confirmFn == activity.Terminate {
		question = r.risk(question)
	}
	answer := ev.Answer
	switch ev.Answer {
	case "all", "subset":
		answer += ": approved " + sessionCount(len(ev.Chosen))
		if len(ev.Chosen) > 0 {
			answer += " (pid " + joinInts(ev.Chosen) + ")"
		}
	case "skip":
		answer += ": approved none"
	}
	fmt.Fprintf(r.W, "    ? %s\n    → %s (answered by %s)\n", question, answer, ev.By)
	if ev.Answer != "refresh" {
		r.confirmFn = ""
	}
}

// function names a signalling function, coloured by its risk.
func (r *Renderer) function(fn activity.Function) string {
	switch fn {
	case activity.Terminate:
		return r.risk(string(fn))
	case activity.Cancel:
		return r.caution(string(fn))
	}
	return string(fn)
}

// outcome describes a signal's outcome, coloured by its risk.
func (r *Renderer) outcome(o string) string {
	text := outcomeText(o)
	switch o {
	case string(activity.Denied), string(activity.Error):
		return r.risk(text)
	case string(activity.Changed):
		return r.caution(text)
	}
	return text
}

// recordAction notes what a dry run would have signalled.
func (r *Renderer) recordAction(ev transcript.Event) {
	if ev.Outcome != string(activity.DryRun) {
		return
	}
	if r.dryRun == nil {
		r.dryRun = map[activity.Function][]int{}
	}
	if !slices.Contains(r.dryRun[ev.Function], ev.PID) {
		r.dryRun[ev.Function] = append(r.dryRun[ev.Function], ev.PID)
	}
}

// dryRunClosing ends a dry run: what it would have cancelled, what it
// would have terminated had the cancel been ignored (the escalation a
// real run takes when a verify fails), what it would have terminated
// outright, and that nothing was signalled.
func (r *Renderer) dryRunClosing(outcome transcript.RunOutcome, code int, message string) {
	w := r.W
	if outcome == transcript.RunDone {
		fmt.Fprintf(w, "Dry run finished (exit %d): nothing was signalled.\n", code)
	} else {
		fmt.Fprintf(w, "%s (exit %d): %s\n", r.risk("Dry run finished: "+string(outcome)), code, message)
		fmt.Fprintln(w, "  Nothing was signalled.")
	}
	cancelled := r.dryRun[activity.Cancel]
	var escalated, outright []int
	for _, pid := range r.dryRun[activity.Terminate] {
		if slices.Contains(cancelled, pid) {
			escalated = append(escalated, pid)
		} else {
			outright = append(outright, pid)
		}
	}
	if len(cancelled)+len(escalated)+len(outright) == 0 {
		fmt.Fprintln(w, "  A real run would have signalled no session.")
		return
	}
	if len(cancelled) > 0 {
		fmt.Fprintf(w, "  A real run would cancel the statement of %s.\n", r.pidList(cancelled))
	}
	if len(escalated) > 0 {
		fmt.Fprintf(w, "  %s, if the cancel were ignored: %s.\n", r.risk("It would terminate"), r.pidList(escalated))
	}
	if len(outright) > 0 {
		fmt.Fprintf(w, "  %s %s.\n", r.risk("A real run would terminate"), r.pidList(outright))
	}
}

// pidList names sessions by pid, with their user and application when
// the latest snapshot has them.
func (r *Renderer) pidList(pids []int) string {
	parts := make([]string, len(pids))
	for i, pid := range pids {
		parts[i] = fmt.Sprintf("pid %d", pid)
		if s, ok := r.known[pid]; ok {
			if who := strings.Join(nonEmpty(s.Usename, s.ApplicationName), "/"); who != "" {
				parts[i] += " (" + who + ")"
			}
		}
	}
	return strings.Join(parts, ", ")
}

// serverLine is ServerLine, with a standby marked as a caution.
func (r *Renderer) serverLine(s activity.Server) string {
	line := ServerLine(s)
	if s.IsStandby {
		return r.caution(line)
	}
	return line
}
