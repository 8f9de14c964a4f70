package playbooktest

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"

	"github.com/pgrunbook/pgrunbook/internal/activity"
	"github.com/pgrunbook/pgrunbook/internal/playbook"
	"github.com/pgrunbook/pgrunbook/internal/transcript"
)

// expectation is a checked expectSpec.
type expectation struct {
	outcome  string
	exitCode *int
	sets     map[string][]int
	excluded map[string][]int
	skipped  []string
	actions  []expectedAction
	prompts  []promptSpec
	warnings []string
	notes    []string
	// groups are a summarize step's expected groups, in order.
	groups map[string][]map[string]string
	// checkSkipped and the like say whether the case gave the list at
	// all: an empty list given is a claim that there is none.
	checkSkipped, checkActions, checkPrompts bool
}

type expectedAction struct {
	function activity.Function
	pid      int
	outcome  string // "" matches any
}

// expectation checks an expectSpec against the suite's playbook.
func (s *Suite) expectation(sp expectSpec) (expectation, error) {
	e := expectation{
		outcome: sp.Outcome, exitCode: sp.ExitCode, warnings: sp.Warnings, notes: sp.Notes,
		groups: map[string][]map[string]string{},
		sets:   map[string][]int{}, excluded: map[string][]int{},
		checkSkipped: sp.Skipped != nil, checkActions: sp.Actions != nil, checkPrompts: sp.Prompts != nil,
	}
	if sp.Outcome != "" && !slices.Contains(runOutcomes, sp.Outcome) {
		return e, fmt.Errorf("outcome %q: one of %s", sp.Outcome, strings.Join(runOutcomes, ", "))
	}
	for ref, pids := range sp.Sets {
		if err := s.checkSetRef(ref); err != nil {
			return e, fmt.Errorf("sets: %v", err)
		}
		e.sets[ref] = sortedPIDs(pids)
	}
	for id, pids := range sp.Excluded {
		if s.step(id) == nil {
			return e, fmt.Errorf("excluded: %v", s.noStep(id))
		}
		e.excluded[id] = sortedPIDs(pids)
	}
	for _, id := range sp.Skipped {
		if s.step(id) == nil {
			return e, fmt.Errorf("skipped: %v", s.noStep(id))
		}
	}
	e.skipped = s.inStepOrder(sp.Skipped)
	for _, a := range sp.Actions {
		ea, err := parseAction(a)
		if err != nil {
			return e, fmt.Errorf("actions: %v", err)
		}
		e.actions = append(e.actions, ea)
	}
	for id, groups := range sp.Groups {
		st := s.step(id)
		if st == nil {
			return e, fmt.Errorf("groups: %v", s.noStep(id))
		}
		if st.Kind != playbook.KindSummarize {
			return e, fmt.Errorf("groups: step %q is a %s step; groups are a summarize step's", id, st.Kind)
		}
		known := append(slices.Clone(st.Summarize.By), "count")
		for i, g := range groups {
			if len(g) == 0 {
				return e, fmt.Errorf("groups: %s: group %d gives nothing to compare (give count or any of %s)", id, i+1, strings.Join(st.Summarize.By, ", "))
			}
			for k := range g {
				if !slices.Contains(known, k) {
					return e, fmt.Errorf("groups: %s: group %d: %q is not one of %s", id, i+1, k, strings.Join(known, ", "))
				}
			}
		}
		e.groups[id] = groups
	}
	for _, p := range sp.Prompts {
		if p.Step == "" {
			return e, errors.New("prompts: each prompt names its step")
		}
		if st := s.step(p.Step); st == nil {
			return e, fmt.Errorf("prompts: %v", s.noStep(p.Step))
		}
		e.prompts = append(e.prompts, p)
	}
	return e, nil
}

func parseAction(s string) (expectedAction, error) {
	f := strings.Fields(s)
	if len(f) < 2 || len(f) > 3 {
		return expectedAction{}, fmt.Errorf("%q: write FUNCTION PID [OUTCOME], e.g. pg_cancel_backend 101 signalled", s)
	}
	fn, ok := functionNames[f[0]]
	if !ok {
		return expectedAction{}, fmt.Errorf("%q: the function is pg_cancel_backend or pg_terminate_backend", s)
	}
	pid, err := strconv.Atoi(f[1])
	if err != nil {
		return expectedAction{}, fmt.Errorf("%q: %q is not a pid", s, f[1])
	}
	a := expectedAction{function: fn, pid: pid}
	if len(f) == 3 {
		if !slices.Contains(outcomes, f[2]) {
			return expectedAction{}, fmt.Errorf("%q: the outcome is one of %s", s, strings.Join(outcomes, ", "))
		}
		a.outcome = f[2]
	}
	return a, nil
}

func (s *Suite) step(id string) *playbook.Step {
	for _, st := range s.Playbook.Steps {
		if st.ID == id {
			return st
		}
	}
	return nil
}

func (s *Suite) noStep(id string) error {
	ids := make([]string, len(s.Playbook.Steps))
	for i, st := range s.Playbook.Steps {
		ids[i] = st.ID
	}
	return fmt.Errorf("playbook %s has no step %q (steps: %s)", s.Playbook.Name, id, strings.Join(ids, ", "))
}

// checkSetRef accepts the set references a playbook could write.
func (s *Suite) checkSetRef(ref string) error {
	id, part, _ := strings.Cut(ref, ".")
	st := s.step(id)
	if st == nil {
		return s.noStep(id)
	}
	switch st.Kind {
	case playbook.KindActivity, playbook.KindFilter, playbook.KindConfirm:
		if part != "" {
			return fmt.Errorf("%q: a %s step's set has no parts; write %q", ref, st.Kind, id)
		}
	case playbook.KindVerify:
		if !slices.Contains(playbook.VerifyParts, part) {
			return fmt.Errorf("%q: write %s.passed or %s.failed", ref, id, id)
		}
	case playbook.KindCancel, playbook.KindTerminate:
		if !slices.Contains(playbook.ActionParts, part) {
			return fmt.Errorf("%q: write %s.%s", ref, id, strings.Join(playbook.ActionParts, " or "+id+"."))
		}
	default:
		return fmt.Errorf("%q: a %s step produces no sessions", ref, st.Kind)
	}
	return nil
}

func (s *Suite) inStepOrder(ids []string) []string {
	out := slices.Clone(ids)
	slices.SortStableFunc(out, func(a, b string) int { return s.step(a).Index - s.step(b).Index })
	return slices.Compact(out)
}

func sortedPIDs(pids []int) []int {
	out := slices.Clone(pids)
	if out == nil {
		out = []int{}
	}
	slices.Sort(out)
	return out
}

// observed is what a run did, in the terms of an expectation.
type observed struct {
	outcome  string
	message  string
	exitCode int
	sets     map[string][]int
	excluded map[string][]int
	skipped  []string
	actions  []expectedAction
	prompts  []transcript.Event
	warnings []string
	notes    []string
	// groups are the summary events, by step.
	groups map[string]*transcript.GroupSummary
}

// observe reads a run's transcript.
func observe(pb *playbook.Playbook, events []transcript.Event) observed {
	o := observed{sets: map[string][]int{}, excluded: map[string][]int{}, groups: map[string]*transcript.GroupSummary{}}
	kinds := map[string]string{}
	for _, st := range pb.Steps {
		kinds[st.ID] = st.Kind
	}
	for _, ev := range events {
		switch ev.Type {
		case transcript.Snapshot:
			o.sets[ev.Step] = activity.PIDs(ev.Rows)
		case transcript.Summary:
			o.groups[ev.Step] = ev.Groups
		case transcript.Note:
			o.notes = append(o.notes, ev.Text)
		case transcript.Selected:
			// A filter's set, or the sessions an activity step kept
			// across its samples (after the samples' snapshots).
			if kinds[ev.Step] == playbook.KindFilter || kinds[ev.Step] == playbook.KindActivity {
				o.sets[ev.Step] = activity.PIDs(ev.Rows)
			}
			o.excluded[ev.Step] = nil
			for _, x := range ev.Excluded {
				o.excluded[ev.Step] = append(o.excluded[ev.Step], x.Session.PID)
			}
		case transcript.Prompt:
			o.prompts = append(o.prompts, ev)
			if kinds[ev.Step] == playbook.KindConfirm && ev.Answer != "refresh" {
				o.sets[ev.Step] = append([]int{}, ev.Chosen...)
			}
		case transcript.Action:
			o.actions = append(o.actions, expectedAction{function: ev.Function, pid: ev.PID, outcome: ev.Outcome})
			part := ev.Outcome
			if part == string(activity.DryRun) {
				part = "signalled"
			}
			ref := ev.Step + "." + part
			o.sets[ref] = append(o.sets[ref], ev.PID)
		case transcript.Verified:
			o.sets[ev.Step+".passed"] = append([]int{}, ev.Passed...)
			o.sets[ev.Step+".failed"] = append([]int{}, ev.Failed...)
		case transcript.StepSkipped:
			o.skipped = append(o.skipped, ev.Step)
		case transcript.Warning:
			o.warnings = append(o.warnings, ev.Text)
		case transcript.RunFinished:
			o.outcome, o.message = ev.Outcome, ev.Message
			if ev.ExitCode != nil {
				o.exitCode = *ev.ExitCode
			}
		}
	}
	return o
}

// mismatch is one expectation that did not hold, with its diff lines.
type mismatch struct {
	what  string
	lines []string
}

// compare checks the observed run against the expectation.
func (e expectation) compare(o observed) []mismatch {
	var out []mismatch
	add := func(what string, want, got []string, notes ...string) {
		if !slices.Equal(want, got) {
			out = append(out, mismatch{what, append(diffLines(want, got), notes...)})
		}
	}
	addSet := func(what string, want, got []int) {
		got = sortedPIDs(got)
		add(what, []string{pidsText(want)}, []string{pidsText(got)}, setNote(want, got))
	}
	if e.outcome != "" {
		var note []string
		if o.message != "" {
			note = append(note, "(the run said: "+o.message+")")
		}
		add("outcome", []string{e.outcome}, []string{o.outcome}, note...)
	}
	if e.exitCode != nil {
		add("exit_code", []string{strconv.Itoa(*e.exitCode)}, []string{strconv.Itoa(o.exitCode)})
	}
	for _, ref := range slices.Sorted(maps.Keys(e.sets)) {
		addSet("sets."+ref, e.sets[ref], o.sets[ref])
	}
	for _, id := range slices.Sorted(maps.Keys(e.excluded)) {
		addSet("excluded."+id, e.excluded[id], o.excluded[id])
	}
	if e.checkSkipped {
		add("skipped", e.skipped, o.skipped)
	}
	if e.checkActions {
		want := make([]string, len(e.actions))
		for i, a := range e.actions {
			want[i] = a.String()
		}
		got := make([]string, len(o.actions))
		for i, a := range o.actions {
			// An expectation without an outcome matches any outcome.
			if j := slices.IndexFunc(e.actions, func(x expectedAction) bool {
				return x.function == a.function && x.pid == a.pid && x.outcome == ""
			}); j >= 0 {
				a.outcome = ""
			}
			got[i] = a.String()
		}
		slices.Sort(want)
		slices.Sort(got)
		add("actions", want, got)
	}
	if e.checkPrompts {
		var want, got []string
		for i, p := range e.prompts {
			want = append(want, promptText(p))
			if i < len(o.prompts) {
				got = append(got, promptText(observedPrompt(o.prompts[i], p)))
			}
		}
		for _, ev := range o.prompts[min(len(e.prompts), len(o.prompts)):] {
			got = append(got, promptText(observedPrompt(ev, promptSpec{Step: "x", Question: "x", Answer: "x"})))
		}
		add("prompts", want, got)
	}
	for _, id := range slices.Sorted(maps.Keys(e.groups)) {
		want, got := groupLines(e.groups[id], o.groups[id])
		add("groups."+id, want, got)
	}
	if m, ok := containsAll("warnings", "warning", e.warnings, o.warnings); ok {
		out = append(out, m)
	}
	if m, ok := containsAll("notes", "note", e.notes, o.notes); ok {
		out = append(out, m)
	}
	return out
}

// containsAll checks that some text of got contains each of want; the
// mismatch lists what is missing and every text there was.
func containsAll(what, one string, want, got []string) (mismatch, bool) {
	var missing []string
	for _, w := range want {
		if !slices.ContainsFunc(got, func(text string) bool { return strings.Contains(text, w) }) {
			missing = append(missing, w)
		}
	}
	if len(missing) == 0 {
		return mismatch{}, false
	}
	lines := make([]string, 0, len(missing)+len(got))
	for _, m := range missing {
		lines = append(lines, "- "+strconv.Quote(m)+" (no "+one+" contains it)")
	}
	for _, w := range got {
		lines = append(lines, "+ "+strconv.Quote(w))
	}
	if len(got) == 0 {
		lines = append(lines, "+ (no "+one+")")
	}
	return mismatch{what, lines}, true
}

// groupLines writes expected and observed groups as lines with the same
// fields: those each expected group gives (the first one's for groups
// beyond the expected list).
func groupLines(want []map[string]string, sum *transcript.GroupSummary) (w, g []string) {
	var got []map[string]string
	if sum != nil {
		for _, grp := range sum.Groups {
			m := map[string]string{"count": strconv.Itoa(grp.Count)}
			for i, k := range sum.By {
				if i < len(grp.Key) {
					m[k] = grp.Key[i]
				}
			}
			got = append(got, m)
		}
	}
	line := func(m, like map[string]string) string {
		keys := slices.Sorted(maps.Keys(like))
		parts := make([]string, len(keys))
		for i, k := range keys {
			parts[i] = k + "=" + strconv.Quote(m[k])
		}
		return strings.Join(parts, " ")
	}
	for i, m := range want {
		w = append(w, line(m, m))
		if i < len(got) {
			g = append(g, line(got[i], m))
		}
	}
	for _, m := range got[min(len(want), len(got)):] {
		like := m
		if len(want) > 0 {
			like = want[0]
		}
		g = append(g, line(m, like))
	}
	return w, g
}

func (a expectedAction) String() string {
	s := fmt.Sprintf("%s %d", a.function, a.pid)
	if a.outcome != "" {
		s += " " + a.outcome
	}
	return s
}

// observedPrompt keeps the fields of a prompt event that the expectation
// gives, so that only those are compared.
func observedPrompt(ev transcript.Event, like promptSpec) promptSpec {
	p := promptSpec{Step: ev.Step}
	if like.Question != "" {
		p.Question = ev.Question
	}
	if like.Answer != "" {
		p.Answer = ev.Answer
	}
	if like.Chosen != nil {
		p.Chosen = sortedPIDs(ev.Chosen)
	}
	return p
}

func promptText(p promptSpec) string {
	s := p.Step + ":"
	if p.Answer != "" {
		s += " " + p.Answer
	}
	if p.Chosen != nil {
		s += " " + pidsText(sortedPIDs(p.Chosen))
	}
	if p.Question != "" {
		s += " " + strconv.Quote(p.Question)
	}
	return s
}

func pidsText(pids []int) string {
	parts := make([]string, len(pids))
	for i, p := range pids {
		parts[i] = strconv.Itoa(p)
	}
	return "[" + strings.Join(parts, " ") + "]"
}
