package rehearse

import (
	"context"
	"fmt"
	"time"

	"github.com/pgrunbook/pgrunbook/engine"
	"github.com/pgrunbook/pgrunbook/internal/activity"
	"github.com/pgrunbook/pgrunbook/internal/incident"
)

// observe gathers what the scorecard is judged on: the transcripts, the
// staged sessions as their clients and the server see them, and pgbench's
// sessions and report.
func (r *rehearsal) observe(ctx context.Context) (*observation, error) {
	rec, err := readRecord(r.res.Transcripts)
	if err != nil {
		return nil, err
	}
	o := &observation{scenario: r.opts.Scenario.Name, mode: r.opts.Mode, cast: &r.cast, rec: rec,
		facts: map[*staged]sessionFacts{}, load: r.load, playbooks: r.results}
	if r.opts.Mode != engine.DryRun {
		fmt.Fprintln(r.out, "  letting the staged sessions' clients see how their statements ended")
		r.settle(ctx, rec)
	}
	sctx, cancel := context.WithTimeout(ctx, setupTimeout)
	defer cancel()
	backends, err := incident.ClientBackends(sctx, r.dsn)
	if err != nil {
		return nil, err
	}
	for _, s := range r.cast.sessions {
		f := sessionFacts{finished: s.finished()}
		for i := range backends {
			if backends[i].PID == s.pid && backends[i].BackendStart.Equal(s.backendStart) {
				f.live = &backends[i]
			}
		}
		if f.finished {
			f.err = s.err()
		}
		if s.stalled != nil {
			f.alive = f.live != nil
		} else {
			f.alive = s.alive(sctx)
		}
		o.facts[s] = f
	}
	if o.world, err = r.observeWorld(sctx, r.opts.Mode == engine.DryRun); err != nil {
		return nil, err
	}
	if r.opts.Scenario.has(QueuedWriter) {
		if o.counter, err = incident.Counter(sctx, r.dsn, lockTable, lockRow); err != nil {
			return nil, err
		}
	}
	if r.load != nil {
		o.benchAfter = pgbenchBackends(backends)
		fmt.Fprintln(r.out, "  ending pgbench's run and reading its report")
		o.benchSummary, o.benchErr = r.load.finish()
	}
	return o, ctx.Err()
}

// settle waits, up to settleTimeout in all, for the clients of the staged
// sessions the run signalled, and of the queued victims once a culprit
// was signalled, to see their statements end.
func (r *rehearsal) settle(ctx context.Context, rec *record) {
	culpritSignalled := false
	for _, s := range r.cast.ofRole(Culprit) {
		culpritSignalled = culpritSignalled || rec.signalled(s.pid)
	}
	deadline := time.NewTimer(settleTimeout)
	defer deadline.Stop()
	for _, s := range r.cast.sessions {
		if !s.background() || !(rec.signalled(s.pid) || (s.role() == Victim && culpritSignalled)) {
			continue
		}
		select {
		case <-s.done():
		case <-deadline.C:
			return
		case <-ctx.Done():
			return
		}
		if s.storm == nil || !rec.sent(s.pid, activity.Cancel) {
			continue
		}
		// A cancelled storm session comes back after its pause; one
		// whose loop ended (terminated) never does.
		select {
		case <-s.storm.Resumed():
		case <-s.storm.Done():
		case <-deadline.C:
			return
		case <-ctx.Done():
			return
		}
	}
}
