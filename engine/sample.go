package engine

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/pgrunbook/pgrunbook/internal/activity"
	"github.com/pgrunbook/pgrunbook/internal/playbook"
	"github.com/pgrunbook/pgrunbook/internal/transcript"
)

// activity takes the step's snapshots. With one sample and no stable
// condition its set is every row. With several, each sample is recorded
// as it is read and the set keeps the sessions whose identity (pid,
// backend_start) is in every sample and, with stable:, for which the
// condition held in every one, with their rows from the last sample:
// a lock tree shifts from one instant to the next, and a root seen in
// every sample is one that is really holding the others up.
//
// Round trips: one snapshot statement per sample.
func (r *runner) activity(ctx context.Context, st *playbook.Step) error {
	a := st.Activity
	samples := max(a.Samples, 1)
	present := map[activity.SessionKey]int{} // samples the session was in
	stable := map[activity.SessionKey]int{}  // samples its stable condition held in
	var last *activity.Snapshot
	for i := range samples {
		if i > 0 {
			if err := r.pause(ctx, a.Interval); err != nil {
				return err
			}
		}
		snap, err := r.snapshot(ctx)
		if err != nil {
			return err
		}
		var hostErr error
		if a.HostStats && i == samples-1 {
			if hostErr = r.hostStats(ctx, snap.Rows, a.HostInterval); ctx.Err() != nil {
				return ctx.Err()
			}
		}
		ev := r.stepEvent(st, transcript.Snapshot)
		ev.Taken, ev.Rows, ev.ServerFacts = &snap.Taken, snap.Rows, &snap.Server
		if samples > 1 {
			ev.Text = fmt.Sprintf("sample %d of %d", i+1, samples)
		}
		if err := r.emit(ev); err != nil {
			return err
		}
		if hostErr != nil {
			if err := r.emit(r.hostNote(st, hostErr)); err != nil {
				return err
			}
		}
		if a.Multi() {
			eval := r.scope.RowEvaluator()
			for j := range snap.Rows {
				row := &snap.Rows[j]
				k := row.Key()
				present[k]++
				held := true
				if a.Stable != nil {
					if held, err = eval.Bool(a.Stable, row); err != nil {
						return fmt.Errorf("step %d (activity): stable: %w", st.Index+1, err)
					}
				}
				if held {
					stable[k]++
				}
			}
		}
		last = snap
	}
	if !a.Multi() {
		r.scope.Put(st.ID, last.Rows)
		return nil
	}
	kept := []activity.Session{}
	var absent, unstable int
	for _, row := range last.Rows {
		k := row.Key()
		switch {
		case present[k] < samples:
			absent++
		case stable[k] < samples:
			unstable++
		default:
			kept = append(kept, row)
		}
	}
	r.scope.Put(st.ID, kept)
	sel := r.stepEvent(st, transcript.Selected)
	sel.Set, sel.Rows, sel.Text = st.ID, kept, keptText(a, samples, len(last.Rows), absent, unstable)
	if a.Stable != nil {
		sel.Stable = a.Stable.Source
	}
	return r.emit(sel)
}

// keptText says which sessions of the last sample a multi-sample step
// kept and why the others were left out.
func keptText(a *playbook.ActivityStep, samples, rows, absent, unstable int) string {
	var b strings.Builder
	if samples > 1 {
		fmt.Fprintf(&b, "in all %d samples, %s apart", samples, a.Interval)
		if a.Stable != nil {
			fmt.Fprintf(&b, ", with %s in every one", a.Stable.Source)
		}
		fmt.Fprintf(&b, " (of %d in the last sample", rows)
	} else {
		fmt.Fprintf(&b, "for which %s holds (of %d in the snapshot", a.Stable.Source, rows)
	}
	if absent > 0 {
		fmt.Fprintf(&b, "; %d not in every sample", absent)
	}
	if unstable > 0 {
		fmt.Fprintf(&b, "; %d for which %s did not hold throughout", unstable, a.Stable.Source)
	}
	b.WriteString(")")
	return b.String()
}

// hostStats asks the host sampler for the rows' host facts. Without a
// sampler, or when it fails, the facts are absent: every row is left
// with host_stats false and the error says why.
func (r *runner) hostStats(ctx context.Context, rows []activity.Session, interval time.Duration) error {
	if r.opts.Host == nil {
		return errNoHost
	}
	err := r.opts.Host.Sample(ctx, rows, interval)
	if err != nil {
		for i := range rows {
			s := &rows[i]
			s.HostStats, s.CPUPercent, s.MemoryBytes, s.IOReadRate, s.IOWriteRate = false, 0, 0, 0, 0
		}
	}
	return err
}

// errNoHost is why host facts are absent when the run has no sampler.
var errNoHost = fmt.Errorf("the server is not on this host")

// hostNote records that host facts could not be read.
func (r *runner) hostNote(st *playbook.Step, err error) transcript.Event {
	n := r.stepEvent(st, transcript.Note)
	n.Text = "host facts unavailable: " + err.Error() + "; host_stats is false and cpu_percent, memory_bytes, io_read_rate and io_write_rate are 0 for every session"
	return n
}

// refreshActivity recomputes an activity step's set from a fresh
// snapshot, for a confirmation's refresh: every row, or, for a step that
// sampled, the rows of the sessions it kept that are still there and
// still meet its stable condition. Host facts are not measured again:
// each session keeps the ones the step read.
func (r *runner) refreshActivity(src *playbook.Step, snap *activity.Snapshot) ([]activity.Session, error) {
	a := src.Activity
	prev := map[activity.SessionKey]*activity.Session{}
	old := r.scope.Sessions(playbook.SetRef{Step: src.ID})
	for i := range old {
		prev[old[i].Key()] = &old[i]
	}
	rows := snap.Rows
	if a.Multi() {
		rows = []activity.Session{}
		eval := r.scope.RowEvaluator()
		for _, s := range snap.Rows {
			if prev[s.Key()] == nil {
				continue
			}
			if a.Stable != nil {
				ok, err := eval.Bool(a.Stable, &s)
				if err != nil {
					return nil, fmt.Errorf("stable: %w", err)
				}
				if !ok {
					continue
				}
			}
			rows = append(rows, s)
		}
	}
	if a.HostStats {
		for i := range rows {
			if p := prev[rows[i].Key()]; p != nil {
				rows[i].HostStats, rows[i].CPUPercent, rows[i].MemoryBytes = p.HostStats, p.CPUPercent, p.MemoryBytes
				rows[i].IOReadRate, rows[i].IOWriteRate = p.IOReadRate, p.IOWriteRate
			}
		}
	}
	r.scope.Put(src.ID, rows)
	return rows, nil
}
