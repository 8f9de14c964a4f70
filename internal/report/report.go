package report

import (
	"errors"
	"fmt"
	"io"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/pgrunbook/pgrunbook/internal/activity"
	"github.com/pgrunbook/pgrunbook/internal/render"
	"github.com/pgrunbook/pgrunbook/internal/transcript"
)

// Options adjust a report.
type Options struct {
	// Path is the transcript's path, named in the report.
	Path string
	// RedactQueries writes "<redacted>" for every query text.
	RedactQueries bool
	// Chain is the result of transcript.VerifyChain, ChainErr its error;
	// both nil when the chain was not checked.
	Chain    *transcript.ChainResult
	ChainErr error
	// Truncated says the transcript's last line was cut off.
	Truncated bool
}

// report is the state of one report being written.
type report struct {
	w       io.Writer
	opts    Options
	events  []transcript.Event
	start   transcript.Event
	end     *transcript.Event
	rows    map[int]activity.Session
	acted   []int
	targets map[int][]string
}

// Write writes the report for a transcript's events.
func Write(w io.Writer, events []transcript.Event, opts Options) error {
	if len(events) == 0 || events[0].Type != transcript.RunStarted {
		return errors.New("the transcript does not start with run_started")
	}
	r := &report{w: w, opts: opts, events: events, start: events[0], rows: map[int]activity.Session{}, targets: map[int][]string{}}
	for i := range events {
		ev := &events[i]
		for _, s := range ev.Rows {
			r.rows[s.PID] = s
		}
		for _, x := range ev.Excluded {
			r.rows[x.Session.PID] = x.Session
		}
		switch ev.Type {
		case transcript.RunFinished:
			r.end = ev
		case transcript.Action:
			if !slices.Contains(r.acted, ev.PID) {
				r.acted = append(r.acted, ev.PID)
			}
			r.targets[ev.PID] = append(r.targets[ev.PID], fmt.Sprintf("%s: %s", ev.Function, ev.Outcome))
		}
	}
	r.header()
	r.summary()
	r.timeline()
	r.seen()
	r.prompts()
	r.actions()
	r.verified()
	r.warnings()
	r.record()
	return nil
}

func (r *report) p(format string, args ...any) { fmt.Fprintf(r.w, format, args...) }

func (r *report) header() {
	s := r.start
	r.p("# Incident report: %s\n\n", s.Playbook)
	if s.Summary != "" {
		r.p("%s\n\n", s.Summary)
	}
	r.p("| | |\n|---|---|\n")
	r.p("| Playbook | %s |\n", cell(fmt.Sprintf("%s (%s, sha256 %s)", s.Playbook, s.Path, short(s.SHA256))))
	r.p("| Mode | %s |\n", modeText(s.Mode))
	if sv := s.Server; sv != nil {
		r.p("| Run as | %s |\n", cell(fmt.Sprintf("role %s (%s), pgrunbook %s, its own backend pid %d", sv.User, privileges(sv), orDash(s.Version), sv.BackendPID)))
		r.p("| Server | %s |\n", cell(fmt.Sprintf("PostgreSQL %s at %s, database %s", sv.Version, hostPort(sv), sv.Database)))
	}
	r.p("| Parameters | %s |\n", cell(paramsText(s.Params)))
	r.p("| Started | %s |\n", clock(s.Time))
	if r.end != nil {
		r.p("| Finished | %s (%s later) |\n", clock(r.end.Time), elapsed(r.end.Time.Sub(s.Time)))
		code := 0
		if r.end.ExitCode != nil {
			code = *r.end.ExitCode
		}
		outcome := fmt.Sprintf("%s (exit %d)", r.end.Outcome, code)
		if r.end.Message != "" {
			outcome += ": " + r.end.Message
		}
		r.p("| Outcome | %s |\n", cell(outcome))
	} else {
		r.p("| Finished | the transcript ends before run_finished: the run was killed or is still running |\n")
	}
	r.p("| Time to mitigate | %s |\n", cell(r.mitigation()))
	r.p("\n")
}

// mitigation says how long the run took to fix what it acted on: from its
// start to the last verify that confirmed every session it checked, when
// the run ended done.
func (r *report) mitigation() string {
	if len(r.acted) == 0 {
		return "nothing was signalled"
	}
	if r.start.Mode == "dry-run" {
		return "a dry run mitigates nothing: no session was signalled"
	}
	if r.end == nil || r.end.Outcome != "done" {
		return "not mitigated: the run did not end done"
	}
	var at time.Time
	for _, ev := range r.events {
		if ev.Type == transcript.Verified && len(ev.Failed) == 0 && len(ev.Passed) > 0 {
			at = ev.Time
		}
	}
	if at.IsZero() {
		return "no verify confirmed the effect of the signals"
	}
	var first time.Time
	for _, ev := range r.events {
		if ev.Type == transcript.Action {
			first = ev.Time
			break
		}
	}
	return fmt.Sprintf("%s from the start of the run (%s after the first signal), confirmed by a verify at %s",
		elapsed(at.Sub(r.start.Time)), elapsed(at.Sub(first)), clock(at))
}

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
	counts := map[string]map[string]int{}
	for _, ev := range r.events {
		if ev.Type == transcript.Action {
			if counts[string(ev.Function)] == nil {
				counts[string(ev.Function)] = map[string]int{}
			}
			counts[string(ev.Function)][ev.Outcome]++
		}
	}
	if len(counts) == 0 {
		r.p("- Acted on: no session.\n")
	}
	for _, fn := range []string{string(activity.Cancel), string(activity.Terminate)} {
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

func (r *report) timeline() {
	r.p("## Timeline\n\n| Time | Step | What happened |\n|---|---|---|\n")
	for _, ev := range r.events {
		what := r.describeEvent(ev)
		if what == "" {
			continue
		}
		step := "-"
		if ev.StepIndex > 0 {
			step = fmt.Sprintf("%d. %s", ev.StepIndex, ev.Step)
		}
		r.p("| %s | %s | %s |\n", offset(ev.Time.Sub(r.start.Time)), cell(step), cell(what))
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

func (r *report) seen() {
	r.p("## What was seen\n\n")
	for _, ev := range r.events {
		if ev.Type != transcript.Snapshot {
			continue
		}
		r.p("- %s, step %d (%s): %s\n", offset(ev.Time.Sub(r.start.Time)), ev.StepIndex, ev.Step, stateCounts(ev.Rows))
	}
	if len(r.acted) == 0 {
		r.p("\nNo session was acted on.\n\n")
		return
	}
	r.p("\nSessions acted on, as last seen before or while they were signalled:\n\n")
	r.p("| PID | User | Database | Application | Client | State | Runtime | Query | Signals |\n|---|---|---|---|---|---|---|---|---|\n")
	for _, pid := range r.acted {
		s := r.rows[pid]
		r.p("| %d | %s | %s | %s | %s | %s | %s | %s | %s |\n", pid, cell(s.Usename), cell(s.Datname), cell(s.ApplicationName),
			cell(render.Client(&s)), cell(s.State), render.Duration(render.Runtime(&s)), code(r.query(s.Query)), cell(strings.Join(r.targets[pid], "; ")))
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
		r.p("\nSessions shown but never targeted:\n\n| PID | User | Application | Reason |\n|---|---|---|---|\n")
		for _, x := range left {
			r.p("| %d | %s | %s | %s |\n", x.Session.PID, cell(x.Session.Usename), cell(x.Session.ApplicationName), cell(x.Reason))
		}
	}
	r.p("\n")
}

func (r *report) prompts() {
	r.p("## Prompts and answers\n\n")
	var shown bool
	for _, ev := range r.events {
		if ev.Type != transcript.Prompt {
			continue
		}
		if !shown {
			r.p("| Time | Step | Question | Answer | Answered by |\n|---|---|---|---|---|\n")
			shown = true
		}
		r.p("| %s | %s | %s | %s | %s |\n", offset(ev.Time.Sub(r.start.Time)), cell(ev.Step), cell(ev.Question), cell(answerText(ev)), cell(ev.By))
	}
	if !shown {
		r.p("No confirmation was asked.\n")
	}
	r.p("\n")
}

func (r *report) actions() {
	r.p("## Actions and outcomes\n\n")
	var shown bool
	for _, ev := range r.events {
		if ev.Type != transcript.Action {
			continue
		}
		if !shown {
			r.p("| Time | Step | Function | PID | Backend start | Outcome | Message |\n|---|---|---|---|---|---|---|\n")
			shown = true
		}
		start := "-"
		if ev.BackendStart != nil {
			start = ev.BackendStart.UTC().Format(time.RFC3339Nano)
		}
		r.p("| %s | %s | %s | %d | %s | %s | %s |\n", offset(ev.Time.Sub(r.start.Time)), cell(ev.Step), ev.Function, ev.PID, start, ev.Outcome, cell(orDash(ev.Message)))
	}
	if !shown {
		r.p("No session was signalled.\n")
	}
	r.p("\n")
}

func (r *report) verified() {
	r.p("## Verification\n\n")
	var shown bool
	for _, ev := range r.events {
		if ev.Type != transcript.Verified {
			continue
		}
		if !shown {
			r.p("| Time | Step | Expectation | Passed | Failed | Polls | Took |\n|---|---|---|---|---|---|---|\n")
			shown = true
		}
		took := elapsed(ev.Elapsed)
		if ev.TimedOut {
			took += " (timed out)"
		}
		r.p("| %s | %s | %s | %s | %s | %d | %s |\n", offset(ev.Time.Sub(r.start.Time)), cell(ev.Step), code(ev.Expect), pidsOrNone(ev.Passed), pidsOrNone(ev.Failed), ev.Polls, took)
	}
	if !shown {
		r.p("Nothing was verified.\n")
	}
	r.p("\n")
}

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

func (r *report) record() {
	r.p("## The record\n\n")
	name := r.opts.Path
	if name == "" {
		name = "the transcript"
	}
	r.p("- Transcript: %s, %d event(s).\n", code(name), len(r.events))
	switch {
	case r.opts.ChainErr != nil:
		r.p("- Hash chain: **broken**: %s. Parts of this report may not be what was recorded.\n", oneLine(r.opts.ChainErr.Error()))
	case r.opts.Chain != nil:
		r.p("- Hash chain: intact; head `sha256:%s` (compare it with `pgrunbook replay --verify`).\n", r.opts.Chain.Head)
	}
	if r.opts.Truncated {
		r.p("- The transcript's last line is cut off: the run was killed while writing it.\n")
	}
	if r.opts.RedactQueries {
		r.p("- Query text is redacted in this report.\n")
	}
}

func (r *report) query(q string) string {
	if r.opts.RedactQueries && q != "" {
		return transcript.RedactedQuery
	}
	return render.OneLineQuery(q)
}

func modeText(m string) string {
	switch m {
	case "interactive":
		return "interactive (an operator answered)"
	case "dry-run":
		return "dry run (nothing signalled)"
	case "yes":
		return "unattended (--yes)"
	}
	return m
}

func privileges(s *transcript.Server) string {
	var p []string
	if s.Superuser {
		p = append(p, "superuser")
	}
	if s.SignalBackend {
		p = append(p, "pg_signal_backend")
	}
	if s.ReadAllStats {
		p = append(p, "pg_read_all_stats")
	}
	if len(p) == 0 {
		return "no signalling or monitoring privileges"
	}
	return strings.Join(p, ", ")
}

func hostPort(s *transcript.Server) string {
	if s.Port == 0 {
		return s.Host
	}
	return fmt.Sprintf("%s:%d", s.Host, s.Port)
}

func paramsText(params map[string]any) string {
	if len(params) == 0 {
		return "none"
	}
	keys := make([]string, 0, len(params))
	for k := range params {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%s=%v", k, params[k])
	}
	return strings.Join(parts, ", ")
}

func countsText(c map[string]int) string {
	keys := make([]string, 0, len(c))
	for k := range c {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%d %s", c[k], k)
	}
	return strings.Join(parts, ", ")
}

func stateCounts(rows []activity.Session) string {
	counts := map[string]int{}
	for _, s := range rows {
		switch {
		case s.IsSelf:
			counts["pgrunbook itself"]++
		case s.BackendType != activity.ClientBackend && s.BackendType != "":
			counts["background"]++
		case s.Hidden():
			counts["hidden"]++
		default:
			counts[s.State]++
		}
	}
	return fmt.Sprintf("%d session(s): %s", len(rows), countsText(counts))
}

func answerText(ev transcript.Event) string {
	if len(ev.Chosen) == 0 {
		return ev.Answer
	}
	return ev.Answer + " " + pidsOrNone(ev.Chosen)
}

func identityPIDs(ids []activity.Identity) []int {
	out := make([]int, len(ids))
	for i, id := range ids {
		out[i] = id.PID
	}
	return out
}

func pidsOrNone(pids []int) string {
	if len(pids) == 0 {
		return "none"
	}
	parts := make([]string, len(pids))
	for i, p := range pids {
		parts[i] = fmt.Sprint(p)
	}
	return strings.Join(parts, ", ")
}

// clock is a time in the report's header: RFC 3339 in UTC, to the
// millisecond.
func clock(t time.Time) string { return t.UTC().Format("2006-01-02 15:04:05.000 UTC") }

// offset is a time in a table: how long after the start of the run.
func offset(d time.Duration) string { return "+" + elapsed(d) }

// elapsed is a duration to the millisecond.
func elapsed(d time.Duration) string {
	if d < 0 {
		d = 0
	}
	return fmt.Sprintf("%.3fs", d.Seconds())
}

func short(sum string) string {
	if len(sum) > 12 {
		return sum[:12] + "…"
	}
	return orDash(sum)
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }

// cell makes text safe in a Markdown table cell.
func cell(s string) string {
	s = oneLine(s)
	if s == "" {
		return "-"
	}
	return strings.ReplaceAll(s, "|", `\|`)
}

// code puts text in a code span, safe in a table cell.
func code(s string) string {
	s = oneLine(s)
	if s == "" {
		return "-"
	}
	fence := "`"
	for strings.Contains(s, fence) {
		fence += "`"
	}
	pad := ""
	if strings.HasPrefix(s, "`") || strings.HasSuffix(s, "`") {
		pad = " "
	}
	return fence + pad + strings.ReplaceAll(s, "|", `\|`) + pad + fence
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
