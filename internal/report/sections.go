package report

import (
	"fmt"
	"strings"
	"time"

	"github.com/pgrunbook/pgrunbook/internal/activity"
	"github.com/pgrunbook/pgrunbook/internal/render"
	"github.com/pgrunbook/pgrunbook/internal/transcript"
)

// summary counts what was seen, done and verified.
func (r *report) summary() {
	r.p("## Summary\n\n")
	var snaps, seen int
	for _, ev := range r.events {
		if ev.Type == transcript.Snapshot {
			snaps++
			seen = max(seen, len(ev.Rows))
		}
	}
	r.p("- Seen: %d snapshot(s) of pg_stat_activity, up to %d session(s) each.\n", snaps, seen)
	counts := map[activity.Function]map[string]int{}
	for _, ev := range r.events {
		if ev.Type == transcript.Action {
			if counts[ev.Function] == nil {
				counts[ev.Function] = map[string]int{}
			}
			counts[ev.Function][ev.Outcome]++
		}
	}
	if len(counts) == 0 {
		r.p("- Acted on: no session.\n")
	}
	for _, fn := range []activity.Function{activity.Cancel, activity.Terminate} {
		if c := counts[fn]; c != nil {
			r.p("- %s: %s.\n", fn, countsText(c))
		}
	}
	var passed, failed int
	for _, ev := range r.events {
		if ev.Type == transcript.Verified {
			passed += len(ev.Passed)
			failed += len(ev.Failed)
		}
	}
	r.p("- Verified: %d check(s) passed, %d failed.\n\n", passed, failed)
}

// seen is what the snapshots showed, the sessions acted on and those
// shown but left out.
func (r *report) seen() {
	r.p("## What was seen\n\n")
	for _, ev := range r.events {
		if ev.Type != transcript.Snapshot {
			continue
		}
		r.p("- %s, step %d (%s): %s\n", r.at(ev), ev.StepIndex, ev.Step, stateCounts(ev.Rows))
	}
	if len(r.acted) == 0 {
		r.p("\nNo session was acted on.\n\n")
		return
	}
	r.p("\nSessions acted on, as last seen before or while they were signalled:\n\n")
	r.tableHead("PID", "User", "Database", "Application", "Client", "State", "Runtime", "Query", "Signals")
	for _, pid := range r.acted {
		s := r.rows[pid]
		r.tableRow(fmt.Sprint(pid), cell(s.Usename), cell(s.Datname), cell(s.ApplicationName), cell(render.Client(&s)), cell(s.State),
			render.Duration(render.Runtime(&s)), code(r.query(s.Query)), cell(strings.Join(r.targets[pid], "; ")))
	}
	var left []transcript.Excluded
	seen := map[int]bool{}
	for _, ev := range r.events {
		for _, x := range ev.Excluded {
			if !seen[x.Session.PID] {
				seen[x.Session.PID] = true
				left = append(left, x)
			}
		}
	}
	if len(left) > 0 {
		r.p("\nSessions shown but never targeted:\n\n")
		r.tableHead("PID", "User", "Application", "Reason")
		for _, x := range left {
			r.tableRow(fmt.Sprint(x.Session.PID), cell(x.Session.Usename), cell(x.Session.ApplicationName), cell(x.Reason))
		}
	}
	r.p("\n")
}

// prompts is every question asked and its answer.
func (r *report) prompts() {
	r.p("## Prompts and answers\n\n")
	r.eventTable(transcript.Prompt, []string{"Time", "Step", "Question", "Answer", "Answered by"}, "No confirmation was asked.",
		func(ev transcript.Event) []string {
			return []string{r.at(ev), cell(ev.Step), cell(ev.Question), cell(answerText(ev)), cell(ev.By)}
		})
}

// actions is every signal and its outcome.
func (r *report) actions() {
	r.p("## Actions and outcomes\n\n")
	r.eventTable(transcript.Action, []string{"Time", "Step", "Function", "PID", "Backend start", "Outcome", "Message"}, "No session was signalled.",
		func(ev transcript.Event) []string {
			start := "-"
			if ev.BackendStart != nil {
				start = ev.BackendStart.UTC().Format(time.RFC3339Nano)
			}
			return []string{r.at(ev), cell(ev.Step), string(ev.Function), fmt.Sprint(ev.PID), start, ev.Outcome, cell(orDash(ev.Message))}
		})
}

// verified is every verify and what it found.
func (r *report) verified() {
	r.p("## Verification\n\n")
	r.eventTable(transcript.Verified, []string{"Time", "Step", "Expectation", "Passed", "Failed", "Polls", "Took"}, "Nothing was verified.",
		func(ev transcript.Event) []string {
			took := elapsed(ev.Elapsed)
			if ev.TimedOut {
				took += " (timed out)"
			}
			return []string{r.at(ev), cell(ev.Step), code(ev.Expect), pidsOrNone(ev.Passed), pidsOrNone(ev.Failed), fmt.Sprint(ev.Polls), took}
		})
}

// warnings lists the run's warnings; no section when there is none.
func (r *report) warnings() {
	var list []transcript.Event
	for _, ev := range r.events {
		if ev.Type == transcript.Warning {
			list = append(list, ev)
		}
	}
	if len(list) == 0 {
		return
	}
	r.p("## Warnings\n\n")
	for _, ev := range list {
		r.p("- step %d (%s): %s\n", ev.StepIndex, ev.Step, oneLine(ev.Text))
	}
	r.p("\n")
}
