package report

import (
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/pgrunbook/pgrunbook/internal/activity"
	"github.com/pgrunbook/pgrunbook/internal/transcript"
)

// modeText names a run mode for a reader.
func modeText(m transcript.Mode) string {
	switch m {
	case transcript.ModeInteractive:
		return "interactive (an operator answered)"
	case transcript.ModeDryRun:
		return "dry run (nothing signalled)"
	case transcript.ModeYes:
		return "unattended (--yes)"
	}
	return string(m)
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
