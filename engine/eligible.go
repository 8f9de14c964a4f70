package engine

import (
	"fmt"
	"slices"

	"github.com/pgrunbook/pgrunbook/internal/activity"
	"github.com/pgrunbook/pgrunbook/internal/transcript"
)

// eligible splits rows into the sessions that may be targeted and the
// ones that are shown but never touched, each with its reason. The rules
// are the product's safety rules: never our own backend, never a session
// still authenticating (PostgreSQL 18's state "starting"), never a session
// whose identity is hidden, only client backends unless the step opts in
// to other backend types by name, never a managed service's superuser
// session that pgrunbook's role cannot signal, never a protected session: one the
// playbook's or the run's protect rules cover, or a default protection
// the playbook does not unprotect.
func (r *runner) eligible(rows []activity.Session, backendTypes []string) ([]activity.Session, []transcript.Excluded, error) {
	// Most sessions of a set are eligible: room for all of them at once.
	targets := make([]activity.Session, 0, len(rows))
	var excluded []transcript.Excluded
	seen := make(map[int]bool, len(rows))
	ev := r.scope.RowEvaluator()
	consider := func(s *activity.Session) error {
		if seen[s.PID] {
			return nil
		}
		seen[s.PID] = true
		reason := ""
		switch {
		case s.IsSelf:
			reason = "pgrunbook's own session"
		case s.State == stateStarting:
			reason = "still starting (authenticating): it has no user or database yet, so it is never signalled"
		case s.Hidden():
			reason = "identity hidden from this role (needs pg_read_all_stats): it cannot be checked, so it is never signalled"
		case s.BackendType != activity.ClientBackend && !slices.Contains(backendTypes, s.BackendType):
			reason = fmt.Sprintf("a %s, not a client backend (a step must list it in backend_types to touch it)", s.BackendType)
		case r.providerDenied(s) != "": // provider.go
			reason = r.providerDenied(s)
		}
		if reason == "" {
			for _, rule := range r.protect {
				hit, err := ev.Bool(rule, s)
				if err != nil {
					return fmt.Errorf("protect rule: %w", err)
				}
				if hit {
					reason = "protected by: " + rule.Source
					break
				}
			}
		}
		if reason == "" {
			// The defaults hold whatever the playbook's own rules say; a
			// session its own rule covers is shown with that rule, the
			// more specific reason (and the one recorded before the
			// defaults existed, so replays of old runs compare equal).
			for i := range r.defaults {
				if matched, ok := r.defaults[i].Match(s); ok {
					reason = r.defaults[i].Reason(matched)
					break
				}
			}
		}
		if reason != "" {
			excluded = append(excluded, transcript.Excluded{Session: *s, Reason: reason})
			return nil
		}
		targets = append(targets, *s)
		return nil
	}
	for i := range rows {
		s := &rows[i]
		if s.BackendType == parallelWorker {
			// A parallel worker is reached through its leader, once.
			reason := fmt.Sprintf("parallel worker of pid %d: only its leader is ever signalled", s.LeaderPID)
			if leader := r.leaderOf(s); leader != nil {
				reason = fmt.Sprintf("parallel worker: its leader, pid %d, is targeted instead", s.LeaderPID)
				if err := consider(leader); err != nil {
					return nil, nil, err
				}
			}
			excluded = append(excluded, transcript.Excluded{Session: *s, Reason: reason})
			continue
		}
		if err := consider(s); err != nil {
			return nil, nil, err
		}
	}
	return targets, excluded, nil
}

// parallelWorker is the backend_type of a parallel query's helper process.
const parallelWorker = "parallel worker"

// stateStarting is the state of a backend that is still authenticating
// (PostgreSQL 18 shows such rows; older versions show them only once
// authenticated). Its user and database are not known yet.
const stateStarting = "starting"

// leaderOf finds a parallel worker's leader in the latest snapshot.
func (r *runner) leaderOf(worker *activity.Session) *activity.Session {
	if r.latest == nil || worker.LeaderPID == 0 || worker.LeaderPID == worker.PID {
		return nil
	}
	for i := range r.latest.Rows {
		if r.latest.Rows[i].PID == worker.LeaderPID {
			return &r.latest.Rows[i]
		}
	}
	return nil
}
