package engine_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/pgrunbook/pgrunbook/engine"
	"github.com/pgrunbook/pgrunbook/internal/incident"
	"github.com/pgrunbook/pgrunbook/internal/pg/pgtest"
	"github.com/pgrunbook/pgrunbook/internal/transcript"
)

// stageLong starts n long queries in db and returns them.
func stageLong(t *testing.T, dsn string, n int) []*incident.Session {
	t.Helper()
	stage := pgtest.Staged[*incident.Session](t)
	var out []*incident.Session
	for i := 0; i < n; i++ {
		out = append(out, stage(incident.LongQuery(context.Background(), dsn, "report", time.Minute)))
	}
	return out
}

func TestYesRefusesAboveTheLimitAndSignalsNothing(t *testing.T) {
	t.Parallel()
	db := pgtest.CreateDatabase(t, "limit")
	longs := stageLong(t, pgtest.DSNFor(db), 20)

	r := runPlaybook(t, builtin(t, "cancel-long-queries"), engine.Yes, nil, "min_runtime=0s", "database="+db)

	if r.res.ExitCode != engine.ExitFailed || r.res.Outcome != engine.OutcomeRefused {
		t.Fatalf("exit %d outcome %s, want 1 refused (%s)", r.res.ExitCode, r.res.Outcome, r.res.Message)
	}
	if got := r.signalled(); len(got) != 0 {
		t.Errorf("signalled %v, want nothing", got)
	}
	for _, ev := range r.events {
		if ev.Type == transcript.Intent {
			t.Errorf("an intent to signal was recorded: %+v", ev)
		}
	}
	for _, l := range longs {
		select {
		case <-l.Done():
			t.Errorf("long query %d ended: %v", l.PID, l.Err())
		default:
		}
	}
}

func TestInteractiveSubsetWithinTheLimit(t *testing.T) {
	t.Parallel()
	db := pgtest.CreateDatabase(t, "subset")
	longs := stageLong(t, pgtest.DSNFor(db), 20)
	chosen := []int{longs[0].PID, longs[3].PID}
	operator := &scriptedPrompter{t: t, answers: []func(engine.Question) engine.Answer{
		func(q engine.Question) engine.Answer {
			return engine.Answer{Choice: engine.ChooseSubset, PIDs: chosen}
		},
	}}

	r := runPlaybook(t, builtin(t, "cancel-long-queries"), engine.Interactive, operator, "min_runtime=0s", "database="+db)

	if r.res.ExitCode != engine.ExitOK {
		t.Fatalf("exit %d (%s)", r.res.ExitCode, r.res.Message)
	}
	if len(operator.asked) != 1 || operator.asked[0].Limit != 5 || len(operator.asked[0].Rows) != 20 {
		t.Fatalf("questions = %+v, want one with 20 rows and limit 5", operator.asked)
	}
	got := r.signalled()
	slices.Sort(got)
	want := slices.Clone(chosen)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("signalled %v, want exactly the chosen %v", got, want)
	}
	for _, ev := range r.events {
		if ev.Type == transcript.Prompt && slices.Contains(ev.Options, "all") {
			t.Errorf("'all' was offered for 20 sessions above the limit of 5: %v", ev.Options)
		}
	}
	// The run's verify saw the chosen statements leave pg_stat_activity;
	// their clients may take a moment longer to read the cancel error.
	for _, l := range longs {
		if slices.Contains(chosen, l.PID) {
			pgtest.WaitDone(t, l, "chosen long query")
		}
	}
	for i, l := range longs {
		select {
		case <-l.Done():
			if !slices.Contains(chosen, l.PID) {
				t.Errorf("long query %d (not chosen) ended: %v", i, l.Err())
			}
		default:
		}
	}
}

func TestRunLevelProtectionSparesASession(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	stage := pgtest.Staged[*incident.Session](t)
	db := pgtest.CreateDatabase(t, "protect")
	dsn := pgtest.DSNFor(db)
	report := stage(incident.LongQuery(ctx, dsn, "report", time.Minute))
	backup := stage(incident.LongQuery(ctx, dsn, "pg_dump", time.Minute))
	nightly := stage(incident.LongQuery(ctx, dsn, "nightly-batch", time.Minute))
	pb := builtin(t, "cancel-long-queries")
	protect, err := pb.CompileProtect([]string{`application_name == "nightly-batch"`})
	if err != nil {
		t.Fatal(err)
	}

	r := runPlaybookWith(t, pb, engine.Options{Mode: engine.Yes, Protect: protect}, "min_runtime=0s", "database="+db)

	if r.res.ExitCode != engine.ExitOK {
		t.Fatalf("exit %d (%s)", r.res.ExitCode, r.res.Message)
	}
	if got := r.signalled(); len(got) != 1 || got[0] != report.PID {
		t.Errorf("signalled %v, want only the report query %d", got, report.PID)
	}
	reasons := map[int]string{}
	for _, ev := range r.events {
		for _, x := range ev.Excluded {
			reasons[x.Session.PID] = x.Reason
		}
	}
	if reasons[backup.PID] == "" || reasons[nightly.PID] == "" {
		t.Errorf("protected sessions not shown as excluded with a reason: %v", reasons)
	}
	for _, s := range []*incident.Session{backup, nightly} {
		select {
		case <-s.Done():
			t.Errorf("protected %s query ended: %v", s.App, s.Err())
		default:
		}
	}
}
