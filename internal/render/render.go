package render

import (
	"bytes"
	"fmt"
	"io"
	"net"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/pgrunbook/pgrunbook/internal/activity"
	"github.com/pgrunbook/pgrunbook/internal/transcript"
)

// Renderer writes events as text for the operator.
type Renderer struct {
	W io.Writer
	// Width is the terminal's width in columns; tables cut queries to fit.
	Width int
	// TranscriptPath, when set, is named at the start and the end.
	TranscriptPath string
	// Color marks risk (terminate, denied, failed, protected) with ANSI
	// colours. Set it only for a terminal (see ColorFor): output to a
	// file or pipe stays plain, byte for byte the same live and in replay.
	Color bool

	screen // screen.go: what was shown, for the next event

	// pending holds the targets of the last intent that have no action
	// event yet: if the record ends there, their outcome is unknown.
	pending   []int
	pendingFn string
}

// Event writes one event, in one write: a table of 200 targets is one
// system call, not one per line.
func (r *Renderer) Event(ev transcript.Event) {
	r.Events([]transcript.Event{ev})
}

// Events writes several events, in one write: the 200 outcomes of one
// signalling statement are one system call, not one per line.
func (r *Renderer) Events(evs []transcript.Event) {
	out := r.W
	var buf bytes.Buffer
	r.W = &buf
	defer func() {
		r.W = out
		if buf.Len() > 0 {
			_, _ = out.Write(buf.Bytes())
		}
	}()
	for _, ev := range evs {
		r.event(ev)
	}
}

// event writes ev to r.W.
func (r *Renderer) event(ev transcript.Event) {
	w := r.W
	if ev.Type != transcript.StepSkipped {
		r.flushSkipped()
	}
	switch ev.Type {
	case transcript.RunStarted:
		r.runStarted(ev)
	case transcript.StepStarted:
		fmt.Fprintf(w, "\n[%d] %s\n", ev.StepIndex, ev.Title)
		if ev.Text != "" {
			writeIndented(w, ev.Text, "    ")
		}
	case transcript.StepSkipped:
		r.skipped = append(r.skipped, ev)
	case transcript.Note:
		if ev.StepIndex == 0 && ev.Title != "" {
			fmt.Fprintf(w, "\n%s\n", ev.Title)
		}
		writeIndented(w, ev.Text, "    ")
	case transcript.Warning:
		writeIndented(w, r.caution("! "+ev.Text), "    ")
	case transcript.Snapshot:
		r.remember(ev.Rows)
		if ev.Text != "" && ev.Kind == "activity" {
			fmt.Fprintf(w, "    %s: read %s\n", ev.Text, snapshotSummary(ev.Rows))
			break
		}
		fmt.Fprintf(w, "    read %s\n", snapshotSummary(ev.Rows))
	case transcript.Selected:
		if ev.Kind == "activity" {
			r.kept(ev)
			break
		}
		r.selected(ev)
	case transcript.Summary:
		r.summary(ev)
	case transcript.Horizon:
		r.horizon(ev)
	case transcript.Prompt:
		r.prompt(ev)
	case transcript.Intent:
		verb := "sending"
		if r.mode == transcript.ModeDryRun {
			verb = "would send (dry run)"
		}
		fmt.Fprintf(w, "    %s %s to %d session(s); each is signalled only if its identity still matches\n", verb, r.function(ev.Function), len(ev.Targets))
		if ev.Text != "" {
			fmt.Fprintf(w, "    (%s)\n", ev.Text)
		}
		r.pending, r.pendingFn = r.pending[:0], string(ev.Function)
		for _, id := range ev.Targets {
			r.pending = append(r.pending, id.PID)
		}
	case transcript.Action:
		fmt.Fprintf(w, "      pid %-8d %s%s\n", ev.PID, r.outcome(ev.Outcome), messageSuffix(ev.Message))
		r.recordAction(ev)
		r.pending = slices.DeleteFunc(r.pending, func(p int) bool { return p == ev.PID })
	case transcript.Waited:
		fmt.Fprintf(w, "    %s\n", ev.Text)
	case transcript.Verified:
		r.verified(ev)
	case transcript.RunFinished:
		r.runFinished(ev)
	}
}

// End closes a rendering that stopped early (a replay of a transcript
// whose run was killed): targets of an intent with no recorded outcome are
// shown as unknown, since the signal may or may not have been sent.
func (r *Renderer) End() {
	r.flushSkipped()
	for _, p := range r.pending {
		fmt.Fprintf(r.W, "      pid %-8d outcome unknown: the record ends after the intent to send %s; check whether the session still runs\n", p, r.pendingFn)
	}
	r.pending = nil
}

func (r *Renderer) runStarted(ev transcript.Event) {
	w := r.W
	r.mode = ev.Mode
	mode := map[transcript.Mode]string{transcript.ModeInteractive: "interactive", transcript.ModeDryRun: "dry run", transcript.ModeYes: "unattended (--yes)"}[ev.Mode]
	if mode == "" {
		mode = string(ev.Mode)
	}
	fmt.Fprintf(w, "pgrunbook run %s, %s\n", ev.Playbook, mode)
	if ev.Summary != "" {
		fmt.Fprintf(w, "  %s\n", ev.Summary)
	}
	if s := ev.Server; s != nil {
		fmt.Fprintf(w, "  server:     PostgreSQL %s at %s, database %s, as %s (our pid %d)\n", s.Version, hostPort(s), s.Database, s.User, s.BackendPID)
		fmt.Fprintf(w, "  privileges: %s\n", privilegeSummary(s))
		connectionLines(w, s) // pooler.go
		providerLines(w, s)   // provider.go
	}
	if len(ev.Params) > 0 {
		keys := make([]string, 0, len(ev.Params))
		for k := range ev.Params {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		parts := make([]string, len(keys))
		for i, k := range keys {
			parts[i] = fmt.Sprintf("%s=%v", k, ev.Params[k])
		}
		fmt.Fprintf(w, "  parameters: %s\n", strings.Join(parts, " "))
	}
	if r.TranscriptPath != "" {
		fmt.Fprintf(w, "  transcript: %s\n", r.TranscriptPath)
	}
	if ev.Mode == transcript.ModeDryRun {
		fmt.Fprintln(w, "  DRY RUN: every action is shown and recorded; no session is signalled.")
	}
}

func hostPort(s *transcript.Server) string {
	if strings.HasPrefix(s.Host, "/") {
		return fmt.Sprintf("socket %s:%d", s.Host, s.Port)
	}
	return fmt.Sprintf("%s:%d", s.Host, s.Port)
}

// privilegeSummary says plainly what the role can do, and what it means
// for the run.
func privilegeSummary(s *transcript.Server) string {
	const hidden = "other roles' sessions show no query, state or start times: they are counted as hidden and never signalled, because their identity cannot be checked"
	switch {
	case s.Superuser:
		return "superuser: can see and signal every session"
	case s.SignalBackend && s.ReadAllStats:
		return "pg_signal_backend and pg_read_all_stats: can see every session and signal any but a superuser's"
	case s.ReadAllStats:
		return "pg_read_all_stats without pg_signal_backend: can see every session, but signal only those of roles it belongs to; others are denied"
	case s.SignalBackend:
		return "pg_signal_backend without pg_read_all_stats: " + hidden
	}
	return "neither pg_signal_backend nor pg_read_all_stats: can signal only sessions of roles it belongs to; " + hidden
}

func snapshotSummary(rows []activity.Session) string {
	counts := map[string]int{}
	var other int
	for _, s := range rows {
		switch {
		case s.BackendType != activity.ClientBackend && s.BackendType != "":
			other++
		case s.State == "":
			counts["hidden"]++
		default:
			counts[s.State]++
		}
	}
	order := []string{"active", "idle in transaction", "idle in transaction (aborted)", "idle", "fastpath function call", "disabled", "hidden"}
	var parts []string
	for _, k := range order {
		if counts[k] > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", counts[k], k))
		}
	}
	if other > 0 {
		parts = append(parts, fmt.Sprintf("%d background", other))
	}
	noun := "sessions"
	if len(rows) == 1 {
		noun = "session"
	}
	if len(parts) == 0 {
		return fmt.Sprintf("%d %s", len(rows), noun)
	}
	return fmt.Sprintf("%d %s: %s", len(rows), noun, strings.Join(parts, ", "))
}

func (r *Renderer) selected(ev transcript.Event) {
	w := r.W
	n := sessionCount(len(ev.Rows))
	switch {
	case ev.Kind == "confirm" && len(ev.Rows) > 0:
		// Nothing is approved until the operator answers.
		what := "candidates"
		switch ev.Function {
		case activity.Terminate:
			what = r.risk("candidates to terminate")
		case activity.Cancel:
			what = r.caution("candidates to cancel")
		}
		r.confirmFn = ev.Function
		fmt.Fprintf(w, "    %s (%s): %s, none approved until answered\n", what, ev.Set, n)
	case ev.Kind == "filter" && len(ev.Rows) > 0 && r.restates(ev.Rows):
		fmt.Fprintf(w, "    %s: %s, the same as %s above\n", ev.Set, n, r.shownSet)
		return
	default:
		fmt.Fprintf(w, "    %s: %s\n", ev.Set, n)
	}
	if ev.ServerFacts != nil {
		fmt.Fprintf(w, "    on %s\n", r.serverLine(*ev.ServerFacts))
	}
	if len(ev.Rows) > 0 {
		r.table(ev.Set, ev.Rows)
	}
	if len(ev.Excluded) > 0 {
		fmt.Fprintf(w, "    not targeted (%d):\n", len(ev.Excluded))
		rows := make([]activity.Session, len(ev.Excluded))
		notes := make([]string, len(ev.Excluded))
		for i, x := range ev.Excluded {
			rows[i], notes[i] = x.Session, x.Reason
		}
		sessionTable(w, rows, notes, r.width(), "    ", r.Color)
	}
}

// sessionCount is "no session", "1 session" or "N sessions".
func sessionCount(n int) string {
	switch n {
	case 0:
		return "no session"
	case 1:
		return "1 session"
	}
	return fmt.Sprintf("%d sessions", n)
}

func (r *Renderer) width() int {
	if r.Width < 60 {
		return 120
	}
	return r.Width
}

func (r *Renderer) verified(ev transcript.Event) {
	w := r.W
	if ev.Text == "nothing to verify" {
		fmt.Fprintf(w, "    nothing to verify\n")
		return
	}
	failed := fmt.Sprintf("%d failed", len(ev.Failed))
	if len(ev.Failed) > 0 && r.mode != transcript.ModeDryRun {
		failed = r.risk(failed)
	}
	fmt.Fprintf(w, "    expect %s: %d passed, %s (%d poll(s), %s)\n", ev.Expect, len(ev.Passed), failed, ev.Polls, Duration(ev.Elapsed))
	if len(ev.Passed) > 0 {
		fmt.Fprintf(w, "      passed: %s\n", joinInts(ev.Passed))
	}
	if len(ev.Failed) > 0 {
		fmt.Fprintf(w, "      failed: %s\n", joinInts(ev.Failed))
	}
	if ev.Text != "" {
		fmt.Fprintf(w, "      (%s)\n", ev.Text)
	}
}

func (r *Renderer) runFinished(ev transcript.Event) {
	w := r.W
	code := 0
	if ev.ExitCode != nil {
		code = *ev.ExitCode
	}
	fmt.Fprintln(w)
	switch {
	case r.mode == transcript.ModeDryRun:
		r.dryRunClosing(ev.RunOutcome(), code, ev.Message) // screen.go
	case ev.RunOutcome() == transcript.RunDone:
		fmt.Fprintf(w, "Done: every check passed (exit %d).\n", code)
	default:
		fmt.Fprintf(w, "%s (exit %d): %s\n", r.risk("Finished: "+ev.Outcome), code, ev.Message)
	}
	if r.TranscriptPath != "" {
		fmt.Fprintf(w, "Transcript: %s\n", r.TranscriptPath)
	}
}

func outcomeText(o string) string {
	switch o {
	case string(activity.Signalled):
		return "signalled (signal sent; the verify step checks the effect)"
	case string(activity.NotFound):
		return "not found (the session had already ended)"
	case string(activity.Changed):
		return "changed (not the same session or statement any more; not signalled)"
	case string(activity.Denied):
		return "denied by the server"
	case string(activity.DryRun):
		return "dry run (would be signalled)"
	}
	return o
}

func messageSuffix(m string) string {
	if m == "" {
		return ""
	}
	return ": " + m
}

func writeIndented(w io.Writer, text, indent string) {
	for _, line := range strings.Split(strings.TrimRight(text, "\n"), "\n") {
		fmt.Fprintln(w, strings.TrimRight(indent+line, " "))
	}
}

// ServerLine names the server a confirmation acts on: where it is, whether
// it is a primary, its cluster name and how full its connection slots are.
func ServerLine(s activity.Server) string {
	var b strings.Builder
	switch {
	case s.Host == "":
		b.WriteString("the server")
	case strings.HasPrefix(s.Host, "/"):
		fmt.Fprintf(&b, "socket %s port %d", s.Host, s.Port)
	default:
		b.WriteString(net.JoinHostPort(s.Host, strconv.Itoa(s.Port)))
	}
	fmt.Fprintf(&b, " (%s", s.Role())
	if s.ClusterName != "" {
		fmt.Fprintf(&b, ", cluster %s", s.ClusterName)
	}
	if s.MaxConnections > 0 {
		fmt.Fprintf(&b, ", %d of %d connections in use", s.ConnectionsUsed, s.MaxConnections)
	}
	b.WriteString(")")
	return b.String()
}
