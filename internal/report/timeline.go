package report

import (
	"fmt"
	"slices"
	"strings"

	"github.com/pgrunbook/pgrunbook/internal/activity"
	"github.com/pgrunbook/pgrunbook/internal/transcript"
)

// timeline is the section with one line for each event that says what
// happened, in order.
func (r *report) timeline() {
	r.p("## Timeline\n\n")
	r.tableHead("Time", "Step", "What happened")
	for _, ev := range r.events {
		what := r.describeEvent(ev)
		if what == "" {
			continue
		}
		step := "-"
		if ev.StepIndex > 0 {
			step = fmt.Sprintf("%d. %s", ev.StepIndex, ev.Step)
		}
		r.tableRow(r.at(ev), cell(step), cell(what))
	}
	r.p("\n")
}

// describeEvent is an event's line in the timeline; "" leaves it out.
func (r *report) describeEvent(ev transcript.Event) string {
	switch ev.Type {
	case transcript.RunStarted:
		return "run started, " + modeText(ev.Mode)
	case transcript.StepStarted:
		return ev.Title
	case transcript.StepSkipped:
		return fmt.Sprintf("skipped: %s (%s)", ev.Title, ev.Text)
	case transcript.Snapshot:
		s := fmt.Sprintf("read %d session(s)", len(ev.Rows))
		if ev.Text != "" {
			s += " (" + ev.Text + ")"
		}
		return s
	case transcript.Selected:
		s := fmt.Sprintf("%s: %s", ev.Set, pidsOrNone(activity.PIDs(ev.Rows)))
		if len(ev.Excluded) > 0 {
			s += fmt.Sprintf("; left out %d", len(ev.Excluded))
		}
		return s
	case transcript.Summary:
		return r.summaryText(ev)
	case transcript.Horizon:
		return horizonText(ev.Holders)
	case transcript.Prompt:
		return fmt.Sprintf("asked %q: %s (by %s)", ev.Question, answerText(ev), ev.By)
	case transcript.Intent:
		return fmt.Sprintf("about to send %s to %s", ev.Function, pidsOrNone(identityPIDs(ev.Targets)))
	case transcript.Action:
		s := fmt.Sprintf("%s pid %d: %s", ev.Function, ev.PID, ev.Outcome)
		if ev.Message != "" {
			s += " (" + ev.Message + ")"
		}
		return s
	case transcript.Verified:
		if ev.Text == "nothing to verify" {
			return "nothing to verify"
		}
		return fmt.Sprintf("verify %s: passed %s, failed %s", ev.Expect, pidsOrNone(ev.Passed), pidsOrNone(ev.Failed))
	case transcript.Waited:
		return ev.Text
	case transcript.Warning:
		return "warning: " + ev.Text
	case transcript.RunFinished:
		s := "run finished: " + ev.Outcome
		if ev.Message != "" {
			s += ": " + ev.Message
		}
		return s
	}
	return ""
}

// summaryText is a summarize step's groups on one line, largest first.
func (r *report) summaryText(ev transcript.Event) string {
	g := ev.Groups
	if g == nil {
		return ""
	}
	var parts []string
	for _, grp := range g.Groups {
		key := slices.Clone(grp.Key)
		for i, k := range g.By {
			if k == "query" && i < len(key) && r.opts.RedactQueries {
				key[i] = transcript.RedactedQuery
			}
		}
		parts = append(parts, fmt.Sprintf("%s %d", strings.Join(key, "/"), grp.Count))
	}
	s := fmt.Sprintf("%s by %s: %s", ev.Set, strings.Join(g.By, ", "), strings.Join(parts, ", "))
	if rest := g.TotalGroups - len(g.Groups); rest > 0 {
		s += fmt.Sprintf(" (and %d more group(s))", rest)
	}
	return s
}

// horizonText lists what a horizon step found holding the xmin horizon.
func horizonText(h *activity.Horizon) string {
	if h == nil {
		return ""
	}
	if h.Empty() {
		return "xmin horizon: held by no slot, prepared transaction or standby"
	}
	var parts []string
	for _, s := range h.Slots {
		parts = append(parts, fmt.Sprintf("slot %s (xmin age %d, catalog_xmin age %d)", s.Name, s.XminAge, s.CatalogXminAge))
	}
	for _, p := range h.Prepared {
		parts = append(parts, fmt.Sprintf("prepared transaction %q (xmin age %d)", p.GID, p.XminAge))
	}
	for _, s := range h.Standbys {
		parts = append(parts, fmt.Sprintf("standby %s (xmin age %d)", s.ApplicationName, s.XminAge))
	}
	return "xmin horizon also held by: " + strings.Join(parts, "; ")
}
