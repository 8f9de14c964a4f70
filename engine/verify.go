package engine

import (
	"context"
	"fmt"

	"github.com/pgrunbook/pgrunbook/internal/activity"
	"github.com/pgrunbook/pgrunbook/internal/playbook"
	"github.com/pgrunbook/pgrunbook/internal/transcript"
)

// verify checks the expectation for each target on fresh snapshots until
// every target passes or the timeout ends, and splits the targets into
// passed and failed. A dry run checks once, against the latest snapshot,
// and does not wait, since it signalled nothing.
//
// Round trips: one snapshot statement per poll; none in a dry run. A
// built-in expectation on a Database that is a TargetReader reads only
// the rows of the pending targets and of the sessions in lock chains.
func (r *runner) verify(ctx context.Context, st *playbook.Step) error {
	v := st.Verify
	targets := r.scope.Sessions(v.Targets)
	sets := playbook.VerifySets{Passed: []activity.Session{}, Failed: []activity.Session{}}
	ev := r.stepEvent(st, transcript.Verified)
	ev.Expect = v.Expect
	if len(targets) == 0 {
		r.scope.Put(st.ID, sets)
		ev.Text = "nothing to verify"
		return r.emit(ev)
	}
	pending := map[int]bool{}
	// latest is each target's most recent row, so the sets hand later
	// steps (a terminate of verify.failed) what the session looks like now.
	latest := map[int]activity.Session{}
	for _, t := range targets {
		pending[t.PID] = true
		latest[t.PID] = t
	}
	read := r.poll
	tr, targeted := r.db.(TargetReader)
	targeted = targeted && !r.unchanging && (v.Expect == playbook.ExpectGone || v.Expect == playbook.ExpectQueryStopped)
	if targeted {
		// A built-in expectation reads only the targets' own rows, and
		// only those still pending.
		read = func(ctx context.Context) (*activity.Snapshot, error) {
			pids := make([]int, 0, len(pending))
			for _, t := range targets {
				if pending[t.PID] {
					pids = append(pids, t.PID)
				}
			}
			// Reconnecting as snapshot does. The run's latest snapshot
			// stays the last full one; the rows handed on are this
			// fresh.
			snap, err := readAgain(ctx, r, func(ctx context.Context) (*activity.Snapshot, error) {
				return tr.SnapshotOf(ctx, pids)
			})
			if err == nil {
				r.taken = snap.Taken
			}
			return snap, err
		}
	}
	res, err := r.pollWith(ctx, v.Timeout, read, func(snap *activity.Snapshot) (bool, error) {
		eval := r.scope.RowEvaluator()
		for i := range targets {
			t := &targets[i]
			if !pending[t.PID] {
				continue
			}
			ok, now, err := expectationHolds(v, eval, t, snap)
			if err != nil {
				return false, fmt.Errorf("step %d (verify): %w", st.Index+1, err)
			}
			if now != nil {
				latest[t.PID] = *now
			}
			if ok {
				delete(pending, t.PID)
			}
		}
		return len(pending) == 0, nil
	})
	if err != nil {
		return err
	}
	sets.Passed = make([]activity.Session, 0, len(targets)-len(pending))
	for _, t := range targets {
		if pending[t.PID] {
			sets.Failed = append(sets.Failed, latest[t.PID])
			ev.Failed = append(ev.Failed, t.PID)
		} else {
			sets.Passed = append(sets.Passed, latest[t.PID])
			ev.Passed = append(ev.Passed, t.PID)
		}
		if !r.unchanging {
			r.lastVerify[t.Key()] = !pending[t.PID]
		}
	}
	ev.Polls, ev.Elapsed, ev.TimedOut = res.polls, res.elapsed, res.timedOut
	if r.unchanging {
		ev.Text = "dry run: checked once against the latest snapshot without waiting; nothing was signalled, so sessions still running show as failed"
	}
	r.scope.Put(st.ID, sets)
	return r.emit(ev)
}

// expectationHolds checks one target against a fresh snapshot. It also
// returns the target's row in that snapshot, nil if the session is gone.
func expectationHolds(v *playbook.VerifyStep, eval *playbook.RowEvaluator, t *activity.Session, snap *activity.Snapshot) (bool, *activity.Session, error) {
	now := snap.Find(t.Identity())
	switch v.Expect {
	case playbook.ExpectGone:
		return now == nil, now, nil
	case playbook.ExpectQueryStopped:
		return now == nil || !now.QueryStart.Equal(t.QueryStart) || now.State != "active", now, nil
	}
	// An expression: a session that has ended has stopped whatever the
	// expression was waiting for it to stop.
	if now == nil {
		return true, nil, nil
	}
	ok, err := eval.Bool(v.Condition, now)
	return ok, now, err
}
