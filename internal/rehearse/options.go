package rehearse

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/pgrunbook/pgrunbook/engine"
	"github.com/pgrunbook/pgrunbook/internal/playbook"
)

// DefaultMinAge is the default Options.MinAge.
const DefaultMinAge = 2 * time.Second

// Options configure a rehearsal. Scenario, Out and RunPlaybook are
// required.
type Options struct {
	// Scenario is the incident to stage.
	Scenario Scenario
	// Playbooks run in this order; empty means the scenario's
	// recommended built-in playbooks.
	Playbooks []*playbook.Playbook
	// Sets are NAME=VALUE parameter settings, as --set takes them. Each
	// applies to every playbook that has the parameter (it is an error if
	// none has it), after the rehearsal's own settings (see Params).
	Sets []string
	// Mode is how the playbooks run. Default engine.Yes.
	Mode engine.Mode
	// Clients is the number of pgbench clients; 0 runs no load (the
	// command's default is DefaultClients). At most MaxClients.
	Clients int
	// BinDir is the directory of the PostgreSQL server binaries; ""
	// searches for them (sandbox.FindBinDir).
	BinDir string
	// Keep leaves the cluster running after a rehearsal that got as far
	// as its scorecard, detached from this process; StopKept removes it.
	Keep bool
	// MinAge is the threshold the rehearsal gives the playbooks'
	// min_* parameters, and how long the staged statements run before
	// the first playbook starts. pgbench's statements and lock waits
	// last milliseconds, so a threshold of seconds keeps them out of
	// every target set. Default DefaultMinAge.
	MinAge time.Duration
	// Out receives the rehearsal's report. The playbooks' own output is
	// RunPlaybook's business (the command writes both to standard
	// output).
	Out io.Writer
	// RunPlaybook runs one playbook against the sandbox as `pgrunbook
	// run` would. Its error means the run could not take place (or its
	// transcript could not be written); every other ending is a Result.
	RunPlaybook func(ctx context.Context, run PlaybookRun) (PlaybookResult, error)
}

// PlaybookRun is one playbook run a rehearsal asks for.
type PlaybookRun struct {
	// Scenario names the rehearsal; Index (from 1) and Count place the
	// run among the rehearsal's playbooks.
	Scenario     string
	Index, Count int
	Playbook     *playbook.Playbook
	// Values are the resolved parameters; Sets how they were set.
	Values playbook.Values
	Sets   []string
	// DSN connects to the rehearsal database as the sandbox superuser.
	DSN  string
	Mode engine.Mode
}

// PlaybookResult is how a playbook run ended.
type PlaybookResult struct {
	Result engine.Result
	// Transcript is the path of the run's transcript, closed by the
	// RunPlaybook that opened it; "" when there is none. The rehearsal
	// appends its scorecard (a note event titled "scorecard") through a
	// handle of its own (transcript.OpenAppend).
	Transcript string
}

// ConfigError is an Options value that cannot work: bad usage, reported
// before anything is started.
type ConfigError struct{ Msg string }

// Error returns the message.
func (e *ConfigError) Error() string { return e.Msg }

func configErrorf(format string, args ...any) error {
	return &ConfigError{Msg: fmt.Sprintf(format, args...)}
}

// ErrInterrupted is returned (wrapped) by Run when its context ended or
// a playbook was interrupted; everything was torn down.
var ErrInterrupted = errors.New("rehearsal interrupted")

// plannedRun is a playbook with its resolved parameters.
type plannedRun struct {
	pb   *playbook.Playbook
	sets []string
	vals playbook.Values
}

// plan checks the options and resolves every playbook's parameters, so
// that bad usage fails before a cluster is started.
func (o *Options) plan() ([]plannedRun, error) {
	if o.Scenario.Name == "" {
		return nil, configErrorf("no scenario given")
	}
	if o.Out == nil || o.RunPlaybook == nil {
		return nil, errors.New("rehearse: Options.Out and Options.RunPlaybook are required")
	}
	if o.Mode == "" {
		o.Mode = engine.Yes
	}
	if o.MinAge <= 0 {
		o.MinAge = DefaultMinAge
	}
	if o.Clients < 0 || o.Clients > MaxClients {
		return nil, configErrorf("--clients must be between 0 (no load) and %d, not %d", MaxClients, o.Clients)
	}
	pbs := o.Playbooks
	if len(pbs) == 0 {
		var err error
		if pbs, err = o.Scenario.RecommendedPlaybooks(); err != nil {
			return nil, err
		}
	}
	used := map[string]bool{}
	var runs []plannedRun
	for _, pb := range pbs {
		sets := o.Scenario.Params(pb, o.MinAge)
		for _, s := range o.Sets {
			name, _, _ := strings.Cut(s, "=")
			if pb.Param(strings.TrimSpace(name)) != nil {
				sets = append(sets, s)
				used[s] = true
			}
		}
		vals, err := pb.Resolve(sets)
		if err != nil {
			return nil, configErrorf("%v", err)
		}
		runs = append(runs, plannedRun{pb: pb, sets: sets, vals: vals})
	}
	for _, s := range o.Sets {
		if !used[s] {
			name, _, _ := strings.Cut(s, "=")
			return nil, configErrorf("--set %s: no playbook of this rehearsal has a parameter %q", s, strings.TrimSpace(name))
		}
	}
	return runs, nil
}

// Params returns the settings a rehearsal of the scenario gives a
// playbook before any --set: its string parameter "database" is the
// rehearsal database; each duration parameter whose name starts with
// "min_" (min_runtime, min_wait, min_idle: the thresholds that keep the
// load out of the target sets) is minAge; and each of the scenario's own
// Sets whose parameter the playbook has, which replaces a setting of
// the same name made before.
func (s Scenario) Params(pb *playbook.Playbook, minAge time.Duration) []string {
	var sets []string
	for _, p := range pb.Params {
		switch {
		case p.Name == "database" && p.Type == playbook.TypeString:
			sets = append(sets, "database="+Database)
		case strings.HasPrefix(p.Name, "min_") && p.Type == playbook.TypeDuration:
			sets = append(sets, p.Name+"="+minAge.String())
		}
	}
	for _, set := range s.Sets {
		name, _, _ := strings.Cut(set, "=")
		if pb.Param(name) == nil {
			continue
		}
		sets = slices.DeleteFunc(sets, func(old string) bool { return strings.HasPrefix(old, name+"=") })
		sets = append(sets, set)
	}
	return sets
}
