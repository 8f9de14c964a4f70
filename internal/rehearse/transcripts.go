package rehearse

import (
	"fmt"
	"regexp"
	"time"

	"github.com/pgrunbook/pgrunbook/internal/activity"
	"github.com/pgrunbook/pgrunbook/internal/transcript"
)

// attempt is one action event: which function, what came of it, and in
// which playbook run (from 1).
type attempt struct {
	function activity.Function
	outcome  activity.Outcome
	run      int
	seq      int64
}

// noteSeen is a note event a playbook wrote, with where it was written.
type noteSeen struct {
	run         int
	seq         int64
	step, title string
	text        string
}

// record is what the transcripts of a rehearsal say was seen and done.
type record struct {
	// actions lists, per pid, the signal attempts in order (dry-run ones
	// included, with outcome dry_run).
	actions map[int][]attempt
	// verifyFailed holds the pids that failed some verify.
	verifyFailed map[int]bool
	// mitigation spans the first snapshot and the last verify that passed
	// every target, over all the runs (transcript.Mitigation).
	mitigation transcript.Mitigation
	// notes are the playbooks' note events, in order.
	notes []noteSeen
	// failedVerifies are the verified events in which some target failed.
	failedVerifies []verifySeen
}

// verifySeen is a verified event in which some target failed.
type verifySeen struct {
	run    int
	seq    int64
	step   string
	failed []int
}

// sent reports whether fn was sent to pid and the signal went out.
func (r *record) sent(pid int, fn activity.Function) bool {
	for _, a := range r.actions[pid] {
		if a.function == fn && a.outcome == activity.Signalled {
			return true
		}
	}
	return false
}

// wouldSend reports whether a dry run recorded fn for pid.
func (r *record) wouldSend(pid int, fn activity.Function) bool {
	for _, a := range r.actions[pid] {
		if a.function == fn && a.outcome == activity.DryRun {
			return true
		}
	}
	return false
}

// signalled reports whether any signal went out to pid.
func (r *record) signalled(pid int) bool {
	return r.sent(pid, activity.Cancel) || r.sent(pid, activity.Terminate)
}

// add folds the events of the transcript of playbook run number run (from
// 1) into the record.
func (r *record) add(run int, events []transcript.Event) {
	for _, ev := range events {
		r.mitigation.Add(ev)
		switch ev.Type {
		case transcript.Action:
			r.actions[ev.PID] = append(r.actions[ev.PID], attempt{function: ev.Function, outcome: activity.Outcome(ev.Outcome), run: run, seq: ev.Seq})
		case transcript.Note:
			r.notes = append(r.notes, noteSeen{run: run, seq: ev.Seq, step: ev.Step, title: ev.Title, text: ev.Text})
		case transcript.Verified:
			for _, pid := range ev.Failed {
				r.verifyFailed[pid] = true
			}
			if len(ev.Failed) > 0 {
				r.failedVerifies = append(r.failedVerifies, verifySeen{run: run, seq: ev.Seq, step: ev.Step, failed: ev.Failed})
			}
		}
	}
}

// newRecord returns an empty record.
func newRecord() *record {
	return &record{actions: map[int][]attempt{}, verifyFailed: map[int]bool{}}
}

// readRecord reads the transcripts at paths, in order.
func readRecord(paths []string) (*record, error) {
	r := newRecord()
	for i, p := range paths {
		res, err := transcript.ReadFile(p)
		if err != nil {
			return nil, fmt.Errorf("read transcript %s: %w", p, err)
		}
		r.add(i+1, res.Events)
	}
	return r, nil
}

// noteAfterCancel returns the first note that a playbook wrote after a
// cancel it sent in the same run and that matches re (in its title or
// text), and whether there is one.
func (r *record) noteAfterCancel(re *regexp.Regexp) (noteSeen, bool) {
	for _, n := range r.notes {
		if re.MatchString(n.title+"\n"+n.text) && r.cancelledIn(n.run, n.seq) {
			return n, true
		}
	}
	return noteSeen{}, false
}

// cancelledIn reports whether run sent a cancel before event seq.
func (r *record) cancelledIn(run int, seq int64) bool {
	for _, as := range r.actions {
		for _, a := range as {
			if a.run == run && a.seq < seq && a.function == activity.Cancel && a.outcome == activity.Signalled {
				return true
			}
		}
	}
	return false
}

// timeToMitigate is the rehearsal's time to mitigate, as
// transcript.Mitigation defines it, and whether there is one.
func (r *record) timeToMitigate() (time.Duration, bool) { return r.mitigation.Duration() }
