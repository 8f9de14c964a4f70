package cli

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/pflag"

	"github.com/pgrunbook/pgrunbook/internal/pg"
	"github.com/pgrunbook/pgrunbook/internal/playbook"
	"github.com/pgrunbook/pgrunbook/internal/rehearse"
)

func rehearseCmd() *command {
	c := &command{
		name: "rehearse", summary: "stage an incident on a throwaway PostgreSQL, run playbooks, score them",
		usage: "SCENARIO [FLAGS]\n--list\n--stop DIR",
		about: `Rehearses an incident on a throwaway PostgreSQL: starts a private cluster
from the installed server binaries (initdb into a temporary directory, a
free port on 127.0.0.1, a unix socket in that directory, trust
authentication), puts pgbench load on it, stages the scenario with real
client sessions, runs the scenario's recommended playbooks (or --playbook)
exactly as "pgrunbook run" would, then checks the outcome and prints a
scorecard: which culprits were stopped and how, whether any bystander,
queued session or pgbench client was hurt, what became of the incident as
a whole (the lock queue, the connection slots, the xmin horizon, a storm
that comes back), and the time to mitigate. The scorecard is also
appended to each transcript. Everything is stopped and removed at the
end, also after Ctrl-C, unless --keep.

Needs no running server and no connection settings: only the PostgreSQL
server binaries (initdb, postgres, pgbench). dead-clients connects from
127.0.0.2, which is a loopback address on Linux.
`,
		flagsWhere: "before or after SCENARIO",
		notes: `Without a terminal, give --yes or --dry-run; on a terminal the playbooks
ask before every cancel and terminate, as "pgrunbook run" does.

Exit codes: 0 resolved with zero collateral damage, or a dry run whose
every check passed (it signalled nothing, changed nothing, and a real run
would act on the culprits only); 1 a real run that did not resolve, any
collateral damage (or a dry run that shows a real run would cause some),
or the rehearsal could not be carried out; 2 bad usage or an
invalid playbook; 3 aborted by the operator; 130 interrupted (everything
was still stopped and removed).`,
		args: argScenario,
	}
	c.setup = func(fs *pflag.FlagSet) runFunc {
		var f rehearseFlags
		fs.BoolVar(&f.list, "list", false, "list the scenarios, one line each, and the incidents that cannot be staged")
		fs.StringArrayVar(&f.playbooks, "playbook", nil, "`PLAYBOOK` run this playbook (a built-in name or a file) instead of the recommended ones (repeatable: they run in the order given)")
		fs.BoolVar(&f.dryRun, "dry-run", false, "the playbooks signal nothing; the scorecard checks that nothing changed and that a real run would act on the culprits only (exit 0 if so, 1 if not)")
		yesFlag(fs, &f.yes, `answer every confirmation with "all"`)
		setFlag(fs, &f.sets, "set a parameter of every playbook that has it (repeatable); the rehearsal already sets database, each min_* duration and the scenario's own parameters (e.g. networks) to fit the incident")
		fs.IntVar(&f.clients, "clients", rehearse.DefaultClients, "`N` pgbench clients (0: no load)")
		fs.StringVar(&f.pgBin, "pg-bin", "", "`DIR` directory of the PostgreSQL server binaries (default: $PGRUNBOOK_PG_BIN, else initdb on PATH, pg_config --bindir, then /usr/lib/postgresql/*/bin and similar)")
		fs.StringVar(&f.transcript, "transcript", "", "`FILE` the transcript, when one playbook runs")
		fs.StringVar(&f.dir, "transcript-dir", "", "`DIR` where the transcripts go (default: $PGRUNBOOK_TRANSCRIPT_DIR, else $XDG_STATE_HOME/pgrunbook/transcripts, else ~/.local/state/pgrunbook/transcripts)")
		fs.BoolVar(&f.keep, "keep", false, "leave the cluster running at the end and print the PG* variables that reach it, for practice")
		fs.StringVar(&f.stop, "stop", "", "`DIR` stop a cluster left by --keep and remove DIR")
		return func(ctx context.Context, pos []string, stdio IO) error {
			return f.rehearse(ctx, c, pos, stdio)
		}
	}
	return c
}

// rehearseFlags are the rehearse command's flags.
type rehearseFlags struct {
	list, dryRun, yes, keep bool
	playbooks, sets         []string
	clients                 int
	pgBin, stop             string
	transcript, dir         string
}

func (f *rehearseFlags) rehearse(ctx context.Context, c *command, pos []string, stdio IO) error {
	switch {
	case f.list:
		if len(pos) > 0 || f.stop != "" {
			return usageErrorf("rehearse --list takes no scenario")
		}
		listScenarios(stdio)
		return nil
	case f.stop != "":
		if len(pos) > 0 {
			return usageErrorf("rehearse --stop DIR takes no scenario")
		}
		if err := rehearse.StopKept(f.stop, stdio.Out); err != nil {
			return failf("%v", err)
		}
		return nil
	case len(pos) != 1:
		return usageErrorf("rehearse takes one scenario, got %d arguments (scenarios: %s)\n\n%s",
			len(pos), strings.Join(rehearse.Names(), ", "), c.help())
	case f.dryRun && f.yes:
		return usageErrorf("give --dry-run or --yes, not both")
	case f.transcript != "" && f.dir != "":
		return usageErrorf("give --transcript FILE or --transcript-dir DIR, not both")
	}
	sc, ok := rehearse.Lookup(pos[0])
	if !ok {
		return usageErrorf("%v", rehearse.UnknownScenarioError(pos[0]))
	}
	var pbs []*playbook.Playbook
	for _, arg := range f.playbooks {
		pb, err := resolvePlaybook(arg)
		if err != nil {
			return err
		}
		pbs = append(pbs, pb)
	}
	count := len(pbs)
	if count == 0 {
		count = len(sc.Playbooks)
	}
	if f.transcript != "" && count > 1 {
		return usageErrorf("--transcript FILE names one transcript, but %d playbooks run: give --transcript-dir DIR", count)
	}
	mode, err := runMode(f.dryRun, f.yes, stdio)
	if err != nil {
		return err
	}

	res, err := rehearse.Run(ctx, rehearse.Options{
		Scenario:  sc,
		Playbooks: pbs,
		Sets:      f.sets,
		Mode:      mode,
		Clients:   f.clients,
		BinDir:    f.pgBin,
		Keep:      f.keep,
		Out:       stdio.Out,
		RunPlaybook: func(ctx context.Context, run rehearse.PlaybookRun) (rehearse.PlaybookResult, error) {
			path, err := f.transcriptPath(run)
			if err != nil {
				return rehearse.PlaybookResult{}, err
			}
			res, err := playbookRun{
				pb: run.Playbook, vals: run.Values, mode: run.Mode, dsn: run.DSN,
				statementTimeout: pg.DefaultStatementTimeout, transcriptPath: path,
			}.execute(ctx, stdio)
			if err != nil {
				return rehearse.PlaybookResult{}, err
			}
			return rehearse.PlaybookResult{Result: res, Transcript: path}, nil
		},
	})
	var cfg *rehearse.ConfigError
	switch {
	case errors.As(err, &cfg):
		return usageErrorf("%v", cfg)
	case errors.Is(err, rehearse.ErrInterrupted):
		return &silentExit{code: ExitInterrupted}
	case err != nil:
		return failf("rehearse %s: %v", sc.Name, err)
	case res.ExitCode != ExitOK:
		// The scorecard is printed; its verdict decides the code.
		return &silentExit{code: res.ExitCode}
	}
	return nil
}

// transcriptPath names the transcript of one playbook run of a
// rehearsal: --transcript, a file in --transcript-dir, or the default
// location of run's transcripts.
func (f *rehearseFlags) transcriptPath(run rehearse.PlaybookRun) (string, error) {
	if f.transcript != "" {
		return f.transcript, nil
	}
	name := fmt.Sprintf("rehearse-%s-%d-%s", run.Scenario, run.Index, run.Playbook.Name)
	path, err := defaultTranscriptPath(name, time.Now())
	if err != nil {
		return "", failf("%v (give --transcript-dir DIR)", err)
	}
	if f.dir != "" {
		path = filepath.Join(f.dir, filepath.Base(path))
	}
	return path, nil
}

// listScenarios prints each scenario with its summary and recommended
// playbooks, then the incidents that cannot be staged and why.
func listScenarios(stdio IO) {
	width := 0
	for _, n := range rehearse.Names() {
		width = max(width, len(n))
	}
	for _, sc := range rehearse.Scenarios() {
		fmt.Fprintf(stdio.Out, "%-*s  %s (playbook: %s)\n", width, sc.Name, sc.Summary, strings.Join(sc.Playbooks, ", then "))
	}
	if unstaged := rehearse.NotStaged(); len(unstaged) > 0 {
		fmt.Fprintf(stdio.Out, "\nNot rehearsable: these incidents cannot be staged honestly in a sandbox\n")
		for _, u := range unstaged {
			fmt.Fprintf(stdio.Out, "%-*s  %s (playbook: %s)\n", width, u.Name, u.Reason, u.Playbook)
		}
	}
}
