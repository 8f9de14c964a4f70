package replay

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/pgrunbook/pgrunbook/engine"
	"github.com/pgrunbook/pgrunbook/internal/activity"
	"github.com/pgrunbook/pgrunbook/internal/fixture"
	"github.com/pgrunbook/pgrunbook/internal/playbook"
	"github.com/pgrunbook/pgrunbook/internal/render"
	"github.com/pgrunbook/pgrunbook/internal/transcript"
)

// Options adjust a replay.
type Options struct {
	// Sets are NAME=VALUE parameter values applied over the recorded
	// ones (--set).
	Sets []string
	// Protect are run-level protection rules (--protect), added to those
	// recovered from the transcript.
	Protect []string
	// MaxTargets is --max-targets; run_started does not record it.
	MaxTargets int
}

// Comparison is the outcome of a replay against a playbook.
type Comparison struct {
	// Recorded is the transcript's run_started event.
	Recorded transcript.Event
	// Playbook is the playbook replayed.
	Playbook *playbook.Playbook
	// Params are the parameters the replay ran with, as --set takes them.
	Params []string
	// Notes say how the replay had to adapt (parameters gone, protection
	// rules recovered).
	Notes []string
	// Targeted are the signals the playbook now sends that the recorded
	// run did not; Spared the reverse.
	Targeted, Spared []Signal
	// Differences lists every difference, step by step.
	Differences []Difference
	// Events is the replayed run's transcript.
	Events []transcript.Event

	sessions map[int]activity.Session
}

// Identical reports whether the playbook decides exactly as the recorded
// run did.
func (c *Comparison) Identical() bool {
	return len(c.Differences) == 0 && len(c.Targeted) == 0 && len(c.Spared) == 0
}

// Against re-runs pb on the recorded run's snapshots and compares its
// decisions with the recorded ones.
func Against(ctx context.Context, events []transcript.Event, pb *playbook.Playbook, opts Options) (*Comparison, error) {
	if len(events) == 0 || events[0].Type != transcript.RunStarted {
		return nil, errors.New("the transcript does not start with run_started")
	}
	start := events[0]
	c := &Comparison{Recorded: start, Playbook: pb, sessions: map[int]activity.Session{}}
	sets := c.recordedParams(start)
	sets = append(sets, opts.Sets...)
	vals, err := pb.Resolve(sets)
	if err != nil {
		return nil, fmt.Errorf("parameters: %w", err)
	}
	c.Params = formatParams(pb, vals)
	protect, err := c.protections(events, pb, opts.Protect)
	if err != nil {
		return nil, err
	}
	src, err := fixture.FromTranscript(events)
	if err != nil {
		return nil, err
	}
	mode := start.Mode
	if mode != engine.Interactive && mode != engine.DryRun {
		mode = engine.Yes
	}
	var server transcript.Server
	if start.Server != nil {
		server = *start.Server
	}
	prompter := newAnswers(events)
	run, err := fixture.RunOffline(ctx, fixture.RunOptions{
		Playbook: pb, Params: vals, Source: src, Mode: mode, Prompter: prompter, Show: prompter.observe,
		Protect: protect, MaxTargets: opts.MaxTargets, Server: server, Version: start.Version,
	})
	if err != nil {
		return nil, err
	}
	c.Events = run.Events
	old := read(events, c.sessions)
	cur := read(run.Events, c.sessions)
	c.Differences = compare(old, cur, c.describe)
	for _, p := range cur.acted {
		if !slices.Contains(old.acted, p) {
			c.Targeted = append(c.Targeted, p)
		}
	}
	for _, p := range old.acted {
		if !slices.Contains(cur.acted, p) {
			c.Spared = append(c.Spared, p)
		}
	}
	return c, nil
}

// recordedParams turns run_started's parameters into --set values for the
// playbook's parameters, noting those it no longer has.
func (c *Comparison) recordedParams(start transcript.Event) []string {
	names := make([]string, 0, len(start.Params))
	for k := range start.Params {
		names = append(names, k)
	}
	sort.Strings(names)
	var sets []string
	for _, name := range names {
		if c.Playbook.Param(name) == nil {
			c.Notes = append(c.Notes, fmt.Sprintf("the recorded parameter %s=%v is not a parameter of this playbook", name, start.Params[name]))
			continue
		}
		sets = append(sets, name+"="+paramText(start.Params[name]))
	}
	return sets
}

// paramText renders a parameter value read back from JSON as --set
// takes it.
func paramText(v any) string {
	switch x := v.(type) {
	case []any:
		parts := make([]string, len(x))
		for i, p := range x {
			parts[i] = fmt.Sprint(p)
		}
		return strings.Join(parts, ",")
	case float64:
		return fmt.Sprint(int64(x))
	}
	return fmt.Sprint(v)
}

func formatParams(pb *playbook.Playbook, vals playbook.Values) []string {
	var out []string
	for _, p := range pb.Params {
		out = append(out, p.Name+"="+paramText(jsonish(vals[p.Name])))
	}
	return out
}

func jsonish(v any) any {
	switch x := v.(type) {
	case time.Duration:
		return x.String()
	case []string:
		out := make([]any, len(x))
		for i, s := range x {
			out[i] = s
		}
		return out
	}
	return v
}

// protections compiles the run-level protection rules: those given, and
// those the recorded run applied that the playbook does not have (run
// with --protect, which run_started does not record; the reasons of the
// sessions it left out name them).
func (c *Comparison) protections(events []transcript.Event, pb *playbook.Playbook, given []string) ([]*playbook.Expr, error) {
	own := map[string]bool{}
	for _, e := range pb.Protect {
		own[e.Source] = true
	}
	rules := slices.Clone(given)
	for _, ev := range events {
		for _, x := range ev.Excluded {
			rule, ok := strings.CutPrefix(x.Reason, "protected by: ")
			if !ok || own[rule] || slices.Contains(rules, rule) {
				continue
			}
			if _, err := pb.CompileProtect([]string{rule}); err != nil {
				c.Notes = append(c.Notes, fmt.Sprintf("the recorded protection %q does not compile against this playbook, so it is not applied: %v", rule, err))
				own[rule] = true
				continue
			}
			rules = append(rules, rule)
			c.Notes = append(c.Notes, fmt.Sprintf("applying the recorded run's protection %q (given with --protect, or dropped from the playbook)", rule))
		}
	}
	exprs, err := pb.CompileProtect(rules)
	if err != nil {
		return nil, fmt.Errorf("protect: %w", err)
	}
	return exprs, nil
}

// describe names a session for the report: pid, user, application and
// what it was doing.
func (c *Comparison) describe(pid int) string {
	s, ok := c.sessions[pid]
	if !ok {
		return fmt.Sprintf("pid %d", pid)
	}
	var parts []string
	if s.Usename != "" {
		parts = append(parts, "user "+s.Usename)
	}
	if s.ApplicationName != "" {
		parts = append(parts, "application "+s.ApplicationName)
	}
	if s.State != "" {
		state := s.State
		if s.State == "active" && s.QueryRuntime > 0 {
			state += " for " + render.Duration(s.QueryRuntime)
		} else if s.StateRuntime > 0 {
			state += " for " + render.Duration(s.StateRuntime)
		}
		parts = append(parts, state)
	}
	if q := render.OneLineQuery(s.Query); q != "" {
		if len(q) > 60 {
			q = q[:57] + "..."
		}
		parts = append(parts, q)
	}
	if len(parts) == 0 {
		return fmt.Sprintf("pid %d", pid)
	}
	return fmt.Sprintf("pid %d (%s)", pid, strings.Join(parts, ", "))
}

// Write reports the comparison as text.
func (c *Comparison) Write(w io.Writer, transcriptPath string) {
	r := c.Recorded
	fmt.Fprintf(w, "Replaying %s: %s, %s, at %s\n", transcriptPath, r.Playbook, r.Mode, r.Time.Format(time.RFC3339))
	fmt.Fprintf(w, "  against:    %s", c.Playbook.Path)
	switch {
	case r.SHA256 == c.Playbook.SHA256:
		fmt.Fprintf(w, " (the recorded playbook, unchanged)\n")
	default:
		fmt.Fprintf(w, " (sha256 %s; the recorded one was %s)\n", short(c.Playbook.SHA256), short(r.SHA256))
	}
	fmt.Fprintf(w, "  parameters: %s\n", strings.Join(c.Params, " "))
	for _, n := range c.Notes {
		fmt.Fprintf(w, "  note: %s\n", n)
	}
	if c.Identical() {
		fmt.Fprintln(w, "\nNo difference: on the recorded snapshots this playbook makes the same decisions.")
		return
	}
	fmt.Fprintln(w)
	if len(c.Targeted) > 0 {
		fmt.Fprintf(w, "Now targeted (%d):\n", len(c.Targeted))
		for _, s := range c.Targeted {
			fmt.Fprintf(w, "  %s: %s\n", s.Function, c.describe(s.PID))
		}
	}
	if len(c.Spared) > 0 {
		fmt.Fprintf(w, "Now spared (%d):\n", len(c.Spared))
		for _, s := range c.Spared {
			fmt.Fprintf(w, "  %s: %s\n", s.Function, c.describe(s.PID))
		}
	}
	if len(c.Targeted) == 0 && len(c.Spared) == 0 {
		fmt.Fprintln(w, "The same sessions are signalled, with the same functions.")
	}
	fmt.Fprintln(w, "\nDifferences:")
	for _, d := range c.Differences {
		if d.Index == 0 {
			fmt.Fprintf(w, "  %s\n", d.Text)
			continue
		}
		fmt.Fprintf(w, "  [%d] %s: %s\n", d.Index, d.Step, d.Text)
	}
	fmt.Fprintf(w, "\n%d difference(s).\n", len(c.Differences))
}

func short(sum string) string {
	if len(sum) > 12 {
		return sum[:12]
	}
	if sum == "" {
		return "(none)"
	}
	return sum
}

// answers replays the recorded operator's answers, step by step. A
// question the recorded run did not ask is answered "all" (or "skip" when
// more sessions match than the limit allows); the report shows it as a
// new prompt either way.
type answers struct {
	byStep map[string][]transcript.Event
	// step is the step being asked about: engine.Question does not say,
	// so the run's step_started events set it.
	step string
}

func newAnswers(events []transcript.Event) *answers {
	a := &answers{byStep: map[string][]transcript.Event{}}
	for _, ev := range events {
		if ev.Type == transcript.Prompt {
			a.byStep[ev.Step] = append(a.byStep[ev.Step], ev)
		}
	}
	return a
}

func (a *answers) observe(ev transcript.Event) {
	if ev.Type == transcript.StepStarted {
		a.step = ev.Step
	}
}

// Choose answers as the operator did at the same step.
func (a *answers) Choose(_ context.Context, q engine.Question) (engine.Answer, error) {
	over := len(q.Rows) > q.Limit
	ans := engine.Answer{Choice: engine.ChooseAll}
	if over {
		ans.Choice = engine.ChooseSkip
	}
	if queue := a.byStep[a.step]; len(queue) > 0 {
		rec := queue[0]
		a.byStep[a.step] = queue[1:]
		ans = engine.Answer{Choice: engine.Choice(rec.Answer)}
		if ans.Choice == engine.ChooseSubset || (ans.Choice == engine.ChooseAll && over) {
			// The same sessions as then, as far as they are offered now.
			ans.Choice = engine.ChooseSubset
			for _, r := range q.Rows {
				if slices.Contains(rec.Chosen, r.PID) && len(ans.PIDs) < q.Limit {
					ans.PIDs = append(ans.PIDs, r.PID)
				}
			}
		}
	}
	n := len(q.Rows)
	if ans.Choice == engine.ChooseSubset {
		n = len(ans.PIDs)
	}
	if engine.NeedsTypedCount(q.Action, n) {
		ans.TypedCount = n
	}
	return ans, nil
}

// PIDs lists the sessions of signals, each once, in order.
func PIDs(signals []Signal) []int {
	var out []int
	for _, s := range signals {
		if !slices.Contains(out, s.PID) {
			out = append(out, s.PID)
		}
	}
	return out
}
