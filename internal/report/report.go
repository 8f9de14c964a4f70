package report

import (
	"errors"
	"fmt"
	"io"
	"slices"

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
}

// report is the state of one report being written.
type report struct {
	w       io.Writer
	opts    Options
	read    *transcript.ReadResult
	events  []transcript.Event
	start   transcript.Event
	end     *transcript.Event
	rows    map[int]activity.Session
	acted   []int
	targets map[int][]string
}

// Write writes the report of a transcript as transcript.Read returned it:
// its events, how it ends and whether its hash chain holds. A result
// without a chain head (events put together by hand) says nothing about
// the chain.
func Write(w io.Writer, rr *transcript.ReadResult, opts Options) error {
	if rr == nil || len(rr.Events) == 0 || rr.Events[0].Type != transcript.RunStarted {
		return errors.New("the transcript does not start with run_started")
	}
	events := rr.Events
	r := &report{w: w, opts: opts, read: rr, events: events, start: events[0], rows: map[int]activity.Session{}, targets: map[int][]string{}}
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
	r.summary()  // sections.go
	r.timeline() // timeline.go
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

// mitigation says how long the run took to fix what it acted on, as
// transcript.Mitigation defines it (from the first snapshot to the last
// verify that confirmed every session it checked), when the run signalled
// something and ended done.
func (r *report) mitigation() string {
	if len(r.acted) == 0 {
		return "nothing was signalled"
	}
	if r.start.Mode == transcript.ModeDryRun {
		return "a dry run mitigates nothing: no session was signalled"
	}
	if r.end == nil || r.end.RunOutcome() != transcript.RunDone {
		return "not mitigated: the run did not end done"
	}
	m := transcript.TimeToMitigate(r.events)
	d, ok := m.Duration()
	if !ok {
		return "no verify confirmed the effect of the signals"
	}
	return fmt.Sprintf("%s from the first snapshot (%s after the first signal), confirmed by a verify at %s",
		elapsed(d), elapsed(m.At.Sub(m.FirstSignal)), clock(m.At))
}

// record is the last section: the transcript the report was made from,
// its hash chain and how it ends.
func (r *report) record() {
	r.p("## The record\n\n")
	name := r.opts.Path
	if name == "" {
		name = "the transcript"
	}
	r.p("- Transcript: %s, %d event(s).\n", code(name), len(r.events))
	switch {
	case r.read.Broken != nil:
		r.p("- Hash chain: **broken**: %s. Parts of this report may not be what was recorded.\n", oneLine(r.read.Broken.Error()))
	case r.read.Head != "":
		r.p("- Hash chain: intact; head `sha256:%s` (compare it with `pgrunbook replay --verify`).\n", r.read.Head)
	}
	if r.read.Truncated {
		r.p("- The transcript's last line is cut off: the run was killed while writing it.\n")
	}
	if r.opts.RedactQueries {
		r.p("- Query text is redacted in this report.\n")
	}
}

// query is a session's query text as the report shows it: on one line,
// or redacted.
func (r *report) query(q string) string {
	if r.opts.RedactQueries && q != "" {
		return transcript.RedactedQuery
	}
	return render.OneLineQuery(q)
}
