//go:build unix

package rehearse

// Real rehearsals of the incident library's scenarios: each stages its
// incident on a sandbox of its own under a little pgbench load, runs
// playbooks through the engine as `pgrunbook run` would and checks the
// scorecard. The command's own tests (internal/cli) run the original
// scenarios through the binary.

import (
	"context"
	"fmt"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/pgrunbook/pgrunbook/engine"
	"github.com/pgrunbook/pgrunbook/internal/hoststat"
	"github.com/pgrunbook/pgrunbook/internal/pg"
	"github.com/pgrunbook/pgrunbook/internal/playbook"
	"github.com/pgrunbook/pgrunbook/internal/render"
	"github.com/pgrunbook/pgrunbook/internal/transcript"
)

// concurrentRuns bounds how many rehearsals of this package run at once
// (each starts a cluster; the machine may have two cores).
var concurrentRuns = make(chan struct{}, 3)

// rehearsed is a finished rehearsal and its report.
type rehearsed struct {
	res    *Result
	report string
}

// rehearseWith runs scenario name with the given playbooks (nil: the
// recommended ones as playbookFor finds them) and mode, with two pgbench
// clients, and fails the test if the rehearsal could not be carried out.
func rehearseWith(t *testing.T, name string, mode engine.Mode, pbs ...*playbook.Playbook) rehearsed {
	t.Helper()
	sc, ok := Lookup(name)
	if !ok {
		t.Fatalf("no scenario %s", name)
	}
	if pbs == nil {
		for _, p := range sc.Playbooks {
			pbs = append(pbs, playbookFor(t, p))
		}
	}
	concurrentRuns <- struct{}{}
	defer func() { <-concurrentRuns }()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	out := &syncBuffer{}
	res, err := Run(ctx, Options{
		Scenario: sc, Playbooks: pbs, Mode: mode, Clients: 2, MinAge: time.Second,
		Out: out, RunPlaybook: engineRunner(t, out),
	})
	r := rehearsed{res: res, report: out.String()}
	if err != nil || res.Scorecard == nil {
		t.Fatalf("rehearse %s: %v\n%s", name, err, r.report)
	}
	assertNothingLeft(t, res.Sandbox)
	return r
}

// engineRunner runs a playbook as `pgrunbook run` does, rendering to out,
// with its transcript in a directory of the test's.
func engineRunner(t *testing.T, out *syncBuffer) func(context.Context, PlaybookRun) (PlaybookResult, error) {
	dir := t.TempDir()
	return func(ctx context.Context, run PlaybookRun) (PlaybookResult, error) {
		tw, err := transcript.Create(filepath.Join(dir, fmt.Sprintf("%d-%s.jsonl", run.Index, run.Playbook.Name)))
		if err != nil {
			return PlaybookResult{}, err
		}
		client, err := pg.Connect(ctx, pg.Options{DSN: run.DSN})
		if err != nil {
			tw.Close()
			return PlaybookResult{}, err
		}
		defer client.Close(ctx)
		info := client.Info()
		rd := &render.Renderer{W: out, Width: 160}
		res, err := engine.Run(ctx, engine.Options{
			Playbook: run.Playbook, Params: run.Values, DB: client, Mode: run.Mode, Transcript: tw, Show: rd.Event,
			Host: hoststat.Sampler{},
			Server: transcript.Server{Host: info.Host, Port: info.Port, User: info.User, Database: info.Database, Version: info.Version,
				VersionNum: info.VersionNum,
				BackendPID: info.PID, Superuser: info.Privileges.Superuser,
				SignalBackend: info.Privileges.SignalBackend, ReadAllStats: info.Privileges.ReadAllStats},
		})
		tw.Close()
		if err != nil {
			return PlaybookResult{}, err
		}
		return PlaybookResult{Result: res, Transcript: tw.Path()}, nil
	}
}

// expect fails the test unless the report holds every string of want.
func (r rehearsed) expect(t *testing.T, want ...string) {
	t.Helper()
	for _, w := range want {
		if !strings.Contains(r.report, w) {
			t.Errorf("the report lacks %q", w)
		}
	}
	if t.Failed() {
		t.Logf("report:\n%s", r.report)
	}
}

// TestIncidentLibraryScenariosResolve rehearses each scenario of the
// incident library with its recommended playbook (the shipped one once
// it lands, the reference under testdata/reference until then), and
// ddl-lock-queue also with unblock-lock-chain: every one is resolved with
// zero collateral damage, and the scorecard shows the scenario's own
// checks passed.
func TestIncidentLibraryScenariosResolve(t *testing.T) {
	t.Parallel()
	cases := map[string][]string{
		"ddl-lock-queue": {
			"[ok]   migrate (pid", "statement cancelled (SQLSTATE 57014, canceled); session kept",
			"column note of stock: absent",
			"[ok]   sessions still waiting for a lock on stock: none",
			"still holds its AccessShareLock on stock: yes",
			"storefront-4 (pid", "its SELECT completed once the ALTER was out of the queue",
			"its statement still running: yes",
		},
		"connection-exhaustion": {
			"webapp's next connection was refused with SQLSTATE 53300",
			"[ok]   a new webapp session gets in again: yes",
			"[ok]   billing#3: pid",
		},
		"xmin-horizon": {
			"analytics (pid", "transaction ended, its snapshot released",
			"no session, replication slot or prepared transaction holds it or an older one now",
		},
		"query-storm": {
			"[ok]   api#6 (pid", "its client saw 1 cancel(s)",
			"[ok]   the storm came back: 6 of the 6 cancelled sessions re-issued the statement",
			"[ok]   the playbook told the operator it came back",
			"[ok]   pg_dump: pid",
		},
		"cpu-hog": {
			"[ok]   adhoc (pid", "statement cancelled (SQLSTATE 57014, canceled); session kept",
			"[ok]   pg_dump: pid",
		},
		"client-not-reading": {
			"[ok]   export (pid", "session gone, blocked write abandoned",
		},
	}
	if runtime.GOOS == "linux" { // 127.0.0.2 is a loopback address on Linux only
		cases["dead-clients"] = []string{
			"[ok]   worker#3 (pid", "session gone, the dead host's connection closed",
			"[ok]   bystander: pid", "127.0.0.2: worker",
		}
	}
	// unblock-lock-chain must cancel the DDL heading the queue too, not
	// the backup at the root of the chain.
	cases["ddl-lock-queue/unblock-lock-chain"] = cases["ddl-lock-queue"]
	for name, want := range cases {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			scenario, pb, _ := strings.Cut(name, "/")
			var pbs []*playbook.Playbook
			if pb != "" {
				pbs = append(pbs, playbookFor(t, pb))
			}
			r := rehearseWith(t, scenario, engine.Yes, pbs...)
			if scenario == "query-storm" && strings.Contains(r.report, "PostgreSQL 13.") {
				// cancel-query-storm groups by query_id, which PostgreSQL
				// 13 lacks: the playbook must stop before its first step
				// and say why, signalling nothing.
				r.expect(t, "query_id (line", "needs PostgreSQL 14 or later; nothing was run", "signals sent: none")
				return
			}
			r.expect(t, append(want, "RESOLVED with zero collateral damage", "0 of 2 clients aborted", "Time to mitigate: ")...)
			if r.res.ExitCode != 0 || strings.Contains(r.report, "[FAIL]") {
				t.Errorf("exit %d; the scorecard:\n%s", r.res.ExitCode, r.res.Scorecard)
			}
		})
	}
}

// TestIncidentLibraryTraps rehearses scenarios with playbooks an expert
// would not run, and checks that the scorecard says what went wrong.
func TestIncidentLibraryTraps(t *testing.T) {
	t.Parallel()
	t.Run("ddl-lock-queue with unblock-lock-chain v1 stops the backup", func(t *testing.T) {
		t.Parallel()
		// The first unblock-lock-chain takes the backup, the root of the
		// chain, for the culprit: the ALTER then runs.
		r := rehearseWith(t, "ddl-lock-queue", engine.Yes, loadPlaybook(t, filepath.Join("testdata", "unblock-lock-chain-v1.yaml")))
		r.expect(t, "[FAIL] pg_dump: pid", "NOT CULPRITS: cancel pg_dump", "[FAIL] column note of stock EXISTS: the ALTER ran",
			"[FAIL] pg_dump (pid", "still holds its AccessShareLock on stock: NO", "NOT RESOLVED, and with COLLATERAL DAMAGE")
		if r.res.ExitCode != 1 {
			t.Errorf("exit %d, want 1", r.res.ExitCode)
		}
	})
	t.Run("query-storm with a cancel that does not look again", func(t *testing.T) {
		t.Parallel()
		r := rehearseWith(t, "query-storm", engine.Yes, loadPlaybook(t, filepath.Join("testdata", "cancel-without-recheck.yaml")))
		r.expect(t, "[ok]   the storm came back: 6 of the 6", "[FAIL] the playbook did not tell the operator that the storm came back",
			"NOT RESOLVED (no collateral damage)")
	})
	t.Run("connection-exhaustion with terminate-all-idle sheds the bystanders too", func(t *testing.T) {
		t.Parallel()
		r := rehearseWith(t, "connection-exhaustion", engine.Yes, loadPlaybook(t, filepath.Join("testdata", "terminate-all-idle.yaml")))
		// The other application's idle pool is always shed. pgbench's two
		// clients are shed too when the snapshot finds one of them idle
		// between its transactions, as a rule; on a loaded machine both
		// were once caught inside a transaction, so their fate is not
		// asserted.
		r.expect(t, "[ok]   after: ", "[FAIL] billing#1: pid", "→ gone", "NOT CULPRITS: ", "terminate billing#1 (pid",
			"RESOLVED, but with COLLATERAL DAMAGE")
	})
	t.Run("xmin-horizon with cancel-long-queries leaves the horizon pinned", func(t *testing.T) {
		t.Parallel()
		r := rehearseWith(t, "xmin-horizon", engine.Yes, builtinPlaybook(t, "cancel-long-queries"))
		r.expect(t, "[FAIL] analytics (pid", "still there (state idle in transaction, wait_event ClientRead); no signal sent", "[FAIL] xmin ", "is still held: session pid",
			"NOT RESOLVED (no collateral damage)")
	})
}

// TestIncidentLibraryDryRuns: a dry run of the scenarios with
// incident-wide checks, with the reference playbooks, changes nothing
// they look at.
func TestIncidentLibraryDryRuns(t *testing.T) {
	t.Parallel()
	cases := map[string][]string{
		"ddl-lock-queue":        {"[ok]   pg_locks on stock as staged: ", "[ok]   column note of stock: absent: the ALTER still waits", "[ok]   storefront-1 (pid", "still waiting for the lock, untouched"},
		"connection-exhaustion": {"[ok]   after the dry run: 0 of 17 ordinary slots free", "[ok]   webapp: 12 of 12 idle sessions still there, untouched; 0 signalled; the dry run recorded a terminate for 5 of them"},
		"query-storm":           {"[ok]   storm sessions that saw a cancel: 0 of 6", "[ok]   api#1 (pid"},
		"xmin-horizon":          {"[ok]   xmin ", "still pinned by analytics (pid"},
	}
	for name, want := range cases {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			sc, _ := Lookup(name)
			r := rehearseWith(t, name, engine.DryRun, loadPlaybook(t, referencePath(sc.Playbooks[0])))
			r.expect(t, append(want, "DRY RUN, nothing was signalled: ")...)
			if r.res.ExitCode != 0 || strings.Contains(r.report, "[FAIL]") {
				t.Errorf("exit %d; the scorecard:\n%s", r.res.ExitCode, r.res.Scorecard)
			}
		})
	}
}
