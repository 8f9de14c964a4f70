package rehearse

import (
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/pgrunbook/pgrunbook/engine"
)

// CheckKind says what a failed check counts against.
type CheckKind int

// Kinds of checks.
const (
	// Resolution: the incident was not resolved (a culprit still runs, a
	// writer still waits, a playbook did not finish).
	Resolution CheckKind = iota
	// Collateral: something that should have been left alone was hurt
	// (a bystander, a victim, a pgbench client, a session terminated where
	// a cancel was enough).
	Collateral
	// Integrity: the rehearsal itself went wrong (a dry run that changed
	// something, pgbench without a report).
	Integrity
)

// Check is one line of the scorecard.
type Check struct {
	OK   bool
	Kind CheckKind
	Text string
}

// Section is a titled group of checks.
type Section struct {
	Title  string
	Checks []Check
}

// Scorecard is the outcome of a rehearsal, check by check.
type Scorecard struct {
	// Scenario and Playbooks name what was rehearsed.
	Scenario  string
	Playbooks []string
	Mode      engine.Mode
	Sections  []Section
	// Aborted is true when the operator aborted a playbook.
	Aborted bool
	// TimeToMitigate runs from the first snapshot to the last verify that
	// passed every target, over all the playbook runs, as
	// transcript.Mitigation defines it (the one definition, which pgrunbook
	// report uses too); set when Mitigated: the incident was resolved.
	TimeToMitigate                time.Duration
	Mitigated                     bool
	FirstSnapshot, LastGoodVerify time.Time
}

// section returns the section with the given title, adding it if needed.
func (c *Scorecard) section(title string) *Section {
	for i := range c.Sections {
		if c.Sections[i].Title == title {
			return &c.Sections[i]
		}
	}
	c.Sections = append(c.Sections, Section{Title: title})
	return &c.Sections[len(c.Sections)-1]
}

// add records a check in a section.
func (c *Scorecard) add(title string, ok bool, kind CheckKind, format string, args ...any) {
	s := c.section(title)
	s.Checks = append(s.Checks, Check{OK: ok, Kind: kind, Text: fmt.Sprintf(format, args...)})
}

// Failures returns every failed check.
func (c *Scorecard) Failures() []Check {
	var out []Check
	for _, s := range c.Sections {
		for _, ch := range s.Checks {
			if !ch.OK {
				out = append(out, ch)
			}
		}
	}
	return out
}

// failed reports whether a check of the given kind failed.
func (c *Scorecard) failed(kind CheckKind) bool {
	for _, ch := range c.Failures() {
		if ch.Kind == kind {
			return true
		}
	}
	return false
}

// DryRun reports whether the rehearsal was a dry run.
func (c *Scorecard) DryRun() bool { return c.Mode == engine.DryRun }

// Resolved reports whether the incident was resolved: a real run, not
// aborted, with every resolution check passed.
func (c *Scorecard) Resolved() bool {
	return !c.DryRun() && !c.Aborted && !c.failed(Resolution)
}

// CollateralDamage reports whether anything that should have been left
// alone was hurt (or, in a dry run, would have been targeted).
func (c *Scorecard) CollateralDamage() bool { return c.failed(Collateral) }

// Verdict sums the scorecard up in one line.
func (c *Scorecard) Verdict() string {
	collateral := c.CollateralDamage()
	switch {
	case c.DryRun() && len(c.Failures()) == 0:
		return "DRY RUN, nothing was signalled: the culprits are still there, and a real run would act on them and nothing else"
	case c.DryRun() && collateral:
		return "DRY RUN, nothing was signalled, but a real run would cause COLLATERAL DAMAGE"
	case c.DryRun():
		return fmt.Sprintf("DRY RUN, nothing was signalled, but %d check(s) of the dry run failed", len(c.Failures()))
	case c.Aborted && collateral:
		return "NOT RESOLVED: aborted by the operator, with COLLATERAL DAMAGE"
	case c.Aborted:
		return "NOT RESOLVED: aborted by the operator"
	case c.Resolved() && !collateral && !c.failed(Integrity):
		return "RESOLVED with zero collateral damage"
	case c.Resolved() && !collateral:
		return "RESOLVED, but the rehearsal could not check everything"
	case c.Resolved():
		return "RESOLVED, but with COLLATERAL DAMAGE"
	case collateral:
		return "NOT RESOLVED, and with COLLATERAL DAMAGE"
	}
	return "NOT RESOLVED (no collateral damage)"
}

// ExitCode is the rehearsal's exit code: 0 when resolved with zero
// collateral damage and every check passed; 3 when the operator aborted;
// 1 otherwise. A dry run resolves nothing by design: it exits 0 when every
// check passed (nothing was signalled, nothing changed, and the real run
// would target the culprits only), which is what a dry run is asked to
// show, and 1 when a check failed, so a script can gate a real run on it.
func (c *Scorecard) ExitCode() int {
	switch {
	case c.Aborted:
		return engine.ExitAborted
	case len(c.Failures()) > 0:
		return engine.ExitFailed
	case c.DryRun() || c.Resolved():
		return engine.ExitOK
	}
	return engine.ExitFailed
}

// Render writes the scorecard as text.
func (c *Scorecard) Render(w io.Writer) {
	mode := map[engine.Mode]string{engine.Interactive: "interactive", engine.DryRun: "dry run", engine.Yes: "unattended (--yes)"}[c.Mode]
	fmt.Fprintf(w, "  %s, %s, %s\n", c.Scenario, strings.Join(c.Playbooks, " then "), mode)
	for _, s := range c.Sections {
		fmt.Fprintf(w, "  %s\n", s.Title)
		for _, ch := range s.Checks {
			mark := "[ok]  "
			if !ch.OK {
				mark = "[FAIL]"
			}
			fmt.Fprintf(w, "    %s %s\n", mark, ch.Text)
		}
	}
	switch {
	case c.Mitigated:
		fmt.Fprintf(w, "  Time to mitigate: %s (first snapshot %s → last successful verify %s)\n",
			c.TimeToMitigate.Round(time.Millisecond), clock(c.FirstSnapshot), clock(c.LastGoodVerify))
	case c.DryRun():
		fmt.Fprintln(w, "  Time to mitigate: none (dry-run)")
	default:
		fmt.Fprintln(w, "  Time to mitigate: none (no verify passed every target)")
	}
	fmt.Fprintf(w, "\n  %s\n", c.Verdict())
}

// String returns the rendered scorecard.
func (c *Scorecard) String() string {
	var b strings.Builder
	c.Render(&b)
	return b.String()
}

// Text returns the rendered scorecard without Render's two-space margin,
// for the transcript's note event (whose display adds its own).
func (c *Scorecard) Text() string {
	lines := strings.Split(strings.TrimRight(c.String(), "\n"), "\n")
	for i, l := range lines {
		lines[i] = strings.TrimPrefix(l, "  ")
	}
	return strings.Join(lines, "\n") + "\n"
}

// clock formats a time of day with milliseconds, in local time.
func clock(t time.Time) string { return t.Local().Format("15:04:05.000") }

// started formats a backend_start with microseconds, as PostgreSQL keeps
// it, in local time.
func started(t time.Time) string { return t.Local().Format("15:04:05.000000") }
