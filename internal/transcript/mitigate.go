package transcript

import "time"

// Mitigation is pgrunbook's one definition of time to mitigate, folded
// from transcript events; pgrunbook report and pgrunbook rehearse both use
// it.
//
// Time to mitigate runs from the first snapshot to the last verify that
// passed every session it checked. The first snapshot is the first time
// pgrunbook read pg_stat_activity: the earliest moment the record shows
// the problem, and the moment the operator (or --yes) could first act on
// it. The start of the run is not used: connecting, reading the server's
// facts and the playbook's guidance are not part of mitigating, and a
// resumed or rehearsed incident spans several runs whose first snapshot,
// not whose first start, is where the incident was first seen. The
// verify is the last one in which every checked session passed (and at
// least one was checked): the moment the record shows the signals worked.
//
// The span says nothing about whether the run ended well: callers decide
// when it counts (report: the run ended done and signalled something;
// rehearse: the incident was resolved), and a dry run mitigates nothing.
type Mitigation struct {
	// From is the time of the earliest snapshot event; zero if none.
	From time.Time
	// FirstSignal is the time of the earliest action event; zero if none.
	FirstSignal time.Time
	// At is the time of the latest verified event in which every
	// checked session passed; zero if none.
	At time.Time
}

// Add folds one event into m. Events may come from several transcripts
// (the runs of one rehearsal) in any order: m keeps the earliest snapshot
// and signal and the latest verify that passed.
func (m *Mitigation) Add(ev Event) {
	switch ev.Type {
	case Snapshot:
		if m.From.IsZero() || ev.Time.Before(m.From) {
			m.From = ev.Time
		}
	case Action:
		if m.FirstSignal.IsZero() || ev.Time.Before(m.FirstSignal) {
			m.FirstSignal = ev.Time
		}
	case Verified:
		if len(ev.Failed) == 0 && len(ev.Passed) > 0 && ev.Time.After(m.At) {
			m.At = ev.Time
		}
	}
}

// TimeToMitigate folds events into a Mitigation.
func TimeToMitigate(events []Event) Mitigation {
	var m Mitigation
	for _, ev := range events {
		m.Add(ev)
	}
	return m
}

// Duration is the time to mitigate: From to At. ok is false when there is
// no snapshot, no verify that passed, or that verify is before the
// snapshot.
func (m Mitigation) Duration() (d time.Duration, ok bool) {
	if m.From.IsZero() || m.At.IsZero() || m.At.Before(m.From) {
		return 0, false
	}
	return m.At.Sub(m.From), true
}
