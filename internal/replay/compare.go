package replay

import (
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
)

// Difference is one way the replayed run decides otherwise than the
// recorded one.
type Difference struct {
	// Step is the step's id; "" for the run as a whole.
	Step string
	// Index is the step's 1-based position (in the replayed run, or in
	// the recorded one for a step the playbook no longer has); 0 for the
	// run as a whole.
	Index int
	Text  string
}

// describer says who a pid is, for the report.
type describer func(pid int) string

// compare lists the differences between two runs' decisions.
func compare(old, cur *decisions, who describer) []Difference {
	var out []Difference
	oldByKey := map[string]*stepRecord{}
	for _, s := range old.steps {
		oldByKey[s.key] = s
	}
	matched := map[*stepRecord]bool{}
	for _, s := range cur.steps {
		o := oldByKey[s.key]
		add := func(format string, args ...any) {
			out = append(out, Difference{Step: s.id, Index: s.index, Text: fmt.Sprintf(format, args...)})
		}
		if o == nil {
			if s.kind != "note" || s.state == "skipped" {
				add("a new step (%s): %s", s.kind, stateText(s))
			}
			continue
		}
		matched[o] = true
		compareStep(o, s, who, add)
	}
	for _, o := range old.steps {
		if !matched[o] && o.kind != "note" {
			out = append(out, Difference{Step: o.id, Index: o.index, Text: fmt.Sprintf("no longer in the playbook (%s; it %s)", o.kind, stateText(o))})
		}
	}
	if !old.finished || !cur.finished || old.outcome != cur.outcome || old.exitCode != cur.exitCode {
		out = append(out, Difference{Text: fmt.Sprintf("the run ends %s; it ended %s", endText(cur), endText(old))})
	}
	return out
}

func stateText(s *stepRecord) string {
	if s.state == "skipped" {
		return "is skipped: " + s.skipReason
	}
	return "runs"
}

func endText(d *decisions) string {
	if !d.finished {
		return "without run_finished (cut off)"
	}
	s := fmt.Sprintf("%s (exit %d)", d.outcome, d.exitCode)
	if d.message != "" {
		s += ": " + d.message
	}
	return s
}

// compareStep compares one step of both runs.
func compareStep(o, s *stepRecord, who describer, add func(string, ...any)) {
	if o.state != s.state {
		if s.state == "skipped" {
			add("now skipped (%s); it ran", s.skipReason)
		} else {
			add("now runs; it was skipped (%s)", o.skipReason)
		}
	}
	if o.hasSelected || s.hasSelected {
		for _, p := range s.selected {
			if !slices.Contains(o.selected, p) {
				add("now selects %s", who(p))
			}
		}
		for _, p := range o.selected {
			if !slices.Contains(s.selected, p) {
				add("no longer selects %s", who(p))
			}
		}
	}
	for _, p := range slices.Sorted(maps.Keys(s.excluded)) {
		was, ok := o.excluded[p]
		switch {
		case !ok:
			add("now leaves out %s: %s", who(p), s.excluded[p])
		case was != s.excluded[p]:
			add("leaves out %s for another reason: %s; it was: %s", who(p), s.excluded[p], was)
		}
	}
	for _, p := range slices.Sorted(maps.Keys(o.excluded)) {
		if _, ok := s.excluded[p]; !ok {
			add("no longer leaves out %s (%s)", who(p), o.excluded[p])
		}
	}
	comparePrompts(o.prompts, s.prompts, add)
	compareActions(o.actions, s.actions, who, add)
	compareVerify(o.verified, s.verified, who, add)
	for _, w := range s.warnings {
		if !slices.Contains(o.warnings, w) {
			add("now warns: %s", w)
		}
	}
	for _, w := range o.warnings {
		if !slices.Contains(s.warnings, w) {
			add("no longer warns: %s", w)
		}
	}
}

func comparePrompts(old, cur []promptRecord, add func(string, ...any)) {
	for i := range max(len(old), len(cur)) {
		switch {
		case i >= len(old):
			add("now asks %q, answered %s", cur[i].question, answerText(cur[i]))
		case i >= len(cur):
			add("no longer asks %q (answered %s)", old[i].question, answerText(old[i]))
		default:
			if old[i].question != cur[i].question {
				add("the question changed: %q; it was %q", cur[i].question, old[i].question)
			}
			if answerText(old[i]) != answerText(cur[i]) {
				add("the answer is %s; it was %s", answerText(cur[i]), answerText(old[i]))
			}
		}
	}
}

func answerText(p promptRecord) string {
	if len(p.chosen) == 0 {
		return p.answer
	}
	return p.answer + " " + pidsText(p.chosen)
}

func compareActions(old, cur []actionRecord, who describer, add func(string, ...any)) {
	find := func(list []actionRecord, a actionRecord) *actionRecord {
		for i := range list {
			if list[i].function == a.function && list[i].pid == a.pid {
				return &list[i]
			}
		}
		return nil
	}
	for _, a := range cur {
		switch was := find(old, a); {
		case was == nil:
			add("now sends %s to %s (%s)", a.function, who(a.pid), a.outcome)
		case was.outcome != a.outcome:
			add("%s of %s is now %s; it was %s", a.function, who(a.pid), a.outcome, was.outcome)
		}
	}
	for _, a := range old {
		if find(cur, a) == nil {
			add("no longer sends %s to %s (it was %s)", a.function, who(a.pid), a.outcome)
		}
	}
}

func compareVerify(old, cur *verifyRecord, who describer, add func(string, ...any)) {
	status := func(v *verifyRecord, pid int) string {
		switch {
		case v == nil:
			return "not checked"
		case slices.Contains(v.passed, pid):
			return "passed"
		case slices.Contains(v.failed, pid):
			return "failed"
		}
		return "not checked"
	}
	var pids []int
	for _, v := range []*verifyRecord{cur, old} {
		if v != nil {
			pids = append(append(pids, v.passed...), v.failed...)
		}
	}
	slices.Sort(pids)
	for _, p := range slices.Compact(pids) {
		if was, now := status(old, p), status(cur, p); was != now {
			add("the check of %s: %s; it was %s", who(p), now, was)
		}
	}
}

func pidsText(pids []int) string {
	parts := make([]string, len(pids))
	for i, p := range pids {
		parts[i] = strconv.Itoa(p)
	}
	return "[" + strings.Join(parts, " ") + "]"
}
