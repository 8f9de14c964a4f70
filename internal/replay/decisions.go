package replay

import (
	"fmt"
	"regexp"
	"slices"

	"github.com/pgrunbook/pgrunbook/internal/activity"
	"github.com/pgrunbook/pgrunbook/internal/transcript"
)

// decisions are what one run decided, step by step, read from its
// transcript.
type decisions struct {
	steps []*stepRecord
	// acted are the signals the run sent (or, dry, would send), in order.
	acted            []Signal
	outcome, message string
	exitCode         int
	finished         bool
}

// stepRecord is what one step did.
type stepRecord struct {
	key   string // how steps of two runs are matched
	id    string
	index int
	kind  string
	title string
	// state is "ran" or "skipped".
	state      string
	skipReason string
	// selected is the step's target set as the selected event showed it;
	// hasSelected says whether there was one.
	selected    []int
	hasSelected bool
	excluded    map[int]string
	prompts     []promptRecord
	actions     []actionRecord
	verified    *verifyRecord
	warnings    []string
}

// Signal is a function sent to a session.
type Signal struct {
	Function activity.Function
	PID      int
}

type promptRecord struct {
	question string
	answer   string
	chosen   []int
}

type actionRecord struct {
	function activity.Function
	pid      int
	outcome  string
}

type verifyRecord struct {
	passed, failed []int
}

// unnamed matches the id a step without one gets: step<N>.
var unnamed = regexp.MustCompile(`^step\d+$`)

// read collects a transcript's decisions. rows receives the latest row
// seen of every session, to describe it in the report.
func read(events []transcript.Event, rows map[int]activity.Session) *decisions {
	d := &decisions{}
	byID := map[string]*stepRecord{}
	seen := map[string]int{}
	step := func(ev transcript.Event) *stepRecord {
		if s := byID[ev.Step]; s != nil {
			return s
		}
		s := &stepRecord{id: ev.Step, index: ev.StepIndex, kind: ev.Kind, title: ev.Title, key: "id:" + ev.Step}
		if unnamed.MatchString(ev.Step) {
			// A step without an id is known by what it is: inserting a
			// step before it must not make it another step.
			base := ev.Kind + ":" + ev.Title
			seen[base]++
			s.key = fmt.Sprintf("%s#%d", base, seen[base])
		}
		byID[ev.Step] = s
		d.steps = append(d.steps, s)
		return s
	}
	remember := func(rs []activity.Session) {
		for _, r := range rs {
			rows[r.PID] = r
		}
	}
	for _, ev := range events {
		switch ev.Type {
		case transcript.StepStarted:
			step(ev).state = "ran"
		case transcript.StepSkipped:
			s := step(ev)
			s.state, s.skipReason = "skipped", ev.Text
		case transcript.Snapshot:
			remember(ev.Rows)
		case transcript.Selected:
			s := step(ev)
			remember(ev.Rows)
			s.selected, s.hasSelected = activity.PIDs(ev.Rows), true
			s.excluded = map[int]string{}
			for _, x := range ev.Excluded {
				rows[x.Session.PID] = x.Session
				s.excluded[x.Session.PID] = x.Reason
			}
		case transcript.Prompt:
			s := step(ev)
			s.prompts = append(s.prompts, promptRecord{question: ev.Question, answer: ev.Answer, chosen: slices.Clone(ev.Chosen)})
		case transcript.Action:
			s := step(ev)
			s.actions = append(s.actions, actionRecord{function: ev.Function, pid: ev.PID, outcome: ev.Outcome})
			if sig := (Signal{Function: ev.Function, PID: ev.PID}); !slices.Contains(d.acted, sig) {
				d.acted = append(d.acted, sig)
			}
		case transcript.Verified:
			s := step(ev)
			s.verified = &verifyRecord{passed: slices.Clone(ev.Passed), failed: slices.Clone(ev.Failed)}
		case transcript.Warning:
			if ev.Step != "" {
				s := step(ev)
				s.warnings = append(s.warnings, ev.Text)
			}
		case transcript.RunFinished:
			d.finished = true
			d.outcome, d.message = ev.Outcome, ev.Message
			if ev.ExitCode != nil {
				d.exitCode = *ev.ExitCode
			}
		}
	}
	return d
}
