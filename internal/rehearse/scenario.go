package rehearse

import (
	"fmt"
	"strings"

	"github.com/pgrunbook/pgrunbook/internal/playbook"
	"github.com/pgrunbook/pgrunbook/playbooks"
)

// Scenario is an incident a rehearsal can stage.
type Scenario struct {
	// Name is how the command line names it, e.g. "long-query".
	Name string
	// Summary is one line for `pgrunbook rehearse --list`.
	Summary string
	// Playbooks are the built-in playbooks recommended for it, run in
	// this order when no other playbook is given.
	Playbooks []string
	// Cast is what is staged, in staging order.
	Cast []Kind
	// Sets are NAME=VALUE parameter settings the scenario gives each
	// playbook that has the parameter (see Scenario.Params), e.g. the
	// network of the client host that is gone.
	Sets []string
}

// scenarios are the rehearsable incidents, in the order --list shows them.
var scenarios = []Scenario{
	{
		Name:      "long-query",
		Summary:   "a report has been running for minutes among healthy traffic and a nightly backup",
		Playbooks: []string{"cancel-long-queries"},
		Cast:      []Kind{LongQuery, Backup, IdleBystander},
	},
	{
		Name:      "stubborn-query",
		Summary:   "a statement that swallows pg_cancel_backend: only terminate ends it",
		Playbooks: []string{"cancel-long-queries"},
		Cast:      []Kind{StubbornQuery, IdleBystander},
	},
	{
		Name:      "idle-in-transaction",
		Summary:   "a session idle in its transaction holds a row lock; two writers queue behind it",
		Playbooks: []string{"terminate-idle-in-transaction"},
		Cast:      []Kind{IdleInTransaction, QueuedWriter, QueuedWriter, IdleBystander},
	},
	{
		Name:      "client-not-reading",
		Summary:   "a backend blocked writing rows to a client that stopped reading (ClientWrite)",
		Playbooks: []string{"unstick-client-write"},
		Cast:      []Kind{ClientNotReading, IdleBystander},
	},
	{
		Name:      "ddl-lock-queue",
		Summary:   "an ALTER TABLE waits for its lock behind a pg_dump; four reads queue behind the ALTER",
		Playbooks: []string{"release-ddl-lock-queue"},
		Cast:      []Kind{Backup, QueuedDDL, QueuedReader, QueuedReader, QueuedReader, QueuedReader, IdleBystander},
	},
	{
		Name:      "connection-exhaustion",
		Summary:   "one application's idle sessions fill max_connections; only the superuser's reserved slots are left",
		Playbooks: []string{"shed-connections"},
		Cast:      []Kind{OtherApp, OtherApp, OtherApp, IdleFlood},
	},
	{
		Name:      "xmin-horizon",
		Summary:   "an idle REPEATABLE READ transaction pins the xmin horizon while pgbench updates",
		Playbooks: []string{"release-xmin-horizon"},
		Cast:      []Kind{SnapshotHolder, IdleBystander},
		// Any snapshot age counts in a sandbox, where few transactions
		// pass; min_xact_age (the rehearsal's threshold) keeps pgbench's
		// short transactions out.
		Sets: []string{"min_xmin_age=1"},
	},
	{
		Name:      "query-storm",
		Summary:   "one application runs the same slow statement from six sessions and re-issues it when cancelled",
		Playbooks: []string{"cancel-query-storm"},
		Cast:      []Kind{StormQuery, StormQuery, StormQuery, StormQuery, StormQuery, StormQuery, Backup, IdleBystander},
	},
	{
		Name:      "dead-clients",
		Summary:   "idle sessions left behind by a client host that is gone (" + deadClientAddr + ")",
		Playbooks: []string{"reap-dead-clients"},
		Cast:      []Kind{DeadClient, DeadClient, DeadClient, IdleBystander},
		Sets:      []string{"networks=" + deadClientAddr + "/32"},
	},
	{
		Name:      "cpu-hog",
		Summary:   "a runaway statement burns a CPU core of the database host",
		Playbooks: []string{"stop-resource-hogs"},
		Cast:      []Kind{CPUHog, Backup, IdleBystander},
		// On a busy 2-core machine a runaway gets a share of a core, not
		// all of it; the bystanders (an idle session, a sleeping COPY,
		// pgbench at 20 tps) stay near 0%.
		Sets: []string{"min_cpu=10"},
	},
	{
		Name:      "mixed",
		Summary:   "a long report, a stubborn statement, an idle transaction with writers behind it and a client that stopped reading, at once",
		Playbooks: []string{"unblock-lock-chain", "cancel-long-queries"},
		Cast: []Kind{LongQuery, Backup, StubbornQuery, IdleInTransaction, QueuedWriter, QueuedWriter,
			ClientNotReading, IdleBystander},
	},
}

// Unstaged is an incident of the library that has a playbook but no
// scenario, and why.
type Unstaged struct {
	// Name names the incident as a scenario would; Playbook is the
	// built-in playbook for it; Reason says why it is not staged.
	Name, Playbook, Reason string
}

// notStaged are the incidents a sandbox cannot stage honestly.
var notStaged = []Unstaged{
	{
		Name:     "ddl-vs-autovacuum",
		Playbook: "ddl-vs-autovacuum",
		Reason: "DDL waiting on an anti-wraparound autovacuum: the server starts one only past autovacuum_freeze_max_age " +
			"(at least 100000 transactions burnt first), and on a sandbox-sized table it finishes before any DDL can queue behind it",
	},
}

// NotStaged returns the incidents that have a playbook but cannot be
// staged honestly in a sandbox, with the reason.
func NotStaged() []Unstaged {
	out := make([]Unstaged, len(notStaged))
	copy(out, notStaged)
	return out
}

// Scenarios returns every scenario, in the order --list shows them.
func Scenarios() []Scenario {
	out := make([]Scenario, len(scenarios))
	copy(out, scenarios)
	return out
}

// Lookup returns the scenario with the given name.
func Lookup(name string) (Scenario, bool) {
	for _, s := range scenarios {
		if s.Name == name {
			return s, true
		}
	}
	return Scenario{}, false
}

// Names returns the scenario names, in the order --list shows them.
func Names() []string {
	names := make([]string, len(scenarios))
	for i, s := range scenarios {
		names[i] = s.Name
	}
	return names
}

// UnknownScenarioError says which scenarios exist.
func UnknownScenarioError(name string) error {
	return fmt.Errorf("no scenario %q (scenarios: %s; see pgrunbook rehearse --list)", name, strings.Join(Names(), ", "))
}

// RecommendedPlaybooks loads the scenario's recommended built-in
// playbooks.
func (s Scenario) RecommendedPlaybooks() ([]*playbook.Playbook, error) {
	var out []*playbook.Playbook
	for _, name := range s.Playbooks {
		src, ok := playbooks.Source(name)
		if !ok {
			return nil, fmt.Errorf("scenario %s recommends playbook %s, which is not built in", s.Name, name)
		}
		pb, err := playbook.Parse("builtin:"+name, src)
		if err != nil {
			return nil, fmt.Errorf("built-in playbook %s: %w", name, err)
		}
		out = append(out, pb)
	}
	return out, nil
}

// has reports whether the scenario stages k.
func (s Scenario) has(k Kind) bool {
	for _, c := range s.Cast {
		if c == k {
			return true
		}
	}
	return false
}
