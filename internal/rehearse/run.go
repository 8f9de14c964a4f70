package rehearse

import (
	"context"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/pgrunbook/pgrunbook/engine"
	"github.com/pgrunbook/pgrunbook/internal/incident"
	"github.com/pgrunbook/pgrunbook/internal/sandbox"
)

// Timing of the rehearsal around the playbooks.
const (
	// ageMargin is added to MinAge before the first playbook starts, so
	// that every staged statement is safely past the thresholds.
	ageMargin = 300 * time.Millisecond
	// drainTimeout bounds the wait, between two playbooks, for queued
	// sessions to get through once their lock was released.
	drainTimeout = 2 * time.Second
	// settleTimeout bounds the wait for the staged sessions' clients to
	// see how their statements ended, after the last playbook.
	settleTimeout = 5 * time.Second
	// setupTimeout bounds database work outside the playbooks.
	setupTimeout = 60 * time.Second
)

// Result is what a rehearsal did and left behind.
type Result struct {
	// Scorecard is nil when the rehearsal did not get as far as scoring.
	Scorecard *Scorecard
	// ExitCode is the rehearsal's exit code (see Scorecard.ExitCode); 1
	// when it could not be completed, 130 when interrupted.
	ExitCode int
	// Sandbox identifies what was started; all of it is gone after Run
	// returns unless Kept is set.
	Sandbox SandboxInfo
	// Kept is set when Options.Keep left the cluster running.
	Kept *Kept
	// Transcripts are the playbooks' transcript files, in run order.
	Transcripts []string
	// Elapsed is the rehearsal's wall-clock time.
	Elapsed time.Duration
}

// SandboxInfo identifies the processes and files of a rehearsal.
type SandboxInfo struct {
	Dir, SocketDir string
	Port           int
	PostmasterPID  int
	PgbenchPID     int
}

// Lines of the report that ParseSandboxInfo reads back; Run prints them
// with the same wording.
var (
	reClusterDir = regexp.MustCompile(`(?m)^  cluster directory (\S+) `)
	rePostmaster = regexp.MustCompile(`(?m)^  PostgreSQL .* at 127\.0\.0\.1:(\d+) \(postmaster pid (\d+)\)`)
	reSocketDir  = regexp.MustCompile(`(?m)^  PostgreSQL .*, unix socket in (\S+)\r?$`)
	rePgbench    = regexp.MustCompile(`(?m)^  pgbench .* \(pid (\d+)\): \d+ clients connected\r?$`)
)

// ParseSandboxInfo reads, from a rehearsal's report, what it started: for
// watching a rehearsal from outside its process (tests of the command
// check with Leftovers that all of it is gone afterwards). Lines may end
// in CRLF, as on a terminal; missing lines leave fields zero.
func ParseSandboxInfo(report string) SandboxInfo {
	var sb SandboxInfo
	if m := reClusterDir.FindStringSubmatch(report); m != nil {
		sb.Dir = m[1]
	}
	if m := rePostmaster.FindStringSubmatch(report); m != nil {
		sb.Port, _ = strconv.Atoi(m[1])
		sb.PostmasterPID, _ = strconv.Atoi(m[2])
	}
	if m := reSocketDir.FindStringSubmatch(report); m != nil {
		sb.SocketDir = m[1]
	}
	if m := rePgbench.FindStringSubmatch(report); m != nil {
		sb.PgbenchPID, _ = strconv.Atoi(m[1])
	}
	return sb
}

// rehearsal is the state of one Run.
type rehearsal struct {
	opts  Options
	runs  []plannedRun
	out   io.Writer
	res   *Result
	phase string

	cluster *sandbox.Cluster
	dsn     string
	load    *load
	cast    incidentCast
	results []playbookOutcome
	// leftBehind is set when the teardown failed.
	leftBehind bool
}

// Run stages the scenario in a new sandbox under pgbench load, runs the
// playbooks through opts.RunPlaybook, scores the outcome and tears
// everything down (unless opts.Keep), writing its report to opts.Out.
// The Result is never nil. The error is a *ConfigError for bad options
// (nothing was started), wraps ErrInterrupted when ctx ended or a
// playbook was interrupted, and is otherwise a failure to carry out the
// rehearsal; a rehearsal that ran but went badly is a nil error and a
// Result with a non-zero ExitCode.
func Run(ctx context.Context, opts Options) (*Result, error) {
	start := time.Now()
	res := &Result{ExitCode: engine.ExitFailed}
	runs, err := opts.plan()
	if err != nil {
		return res, err
	}
	r := &rehearsal{opts: opts, runs: runs, out: opts.Out, res: res, phase: "setup"}
	err = r.run(ctx)
	res.Elapsed = time.Since(start).Round(100 * time.Millisecond)
	if len(res.Transcripts) > 0 {
		fmt.Fprintf(r.out, "\nTranscripts (show a run again with pgrunbook replay FILE):\n")
		for _, p := range res.Transcripts {
			fmt.Fprintf(r.out, "  %s\n", p)
		}
	}
	cleaned := "everything the rehearsal started was stopped and removed"
	if r.leftBehind {
		cleaned = "NOT everything the rehearsal started could be removed: see the teardown above"
	}
	switch {
	case err != nil && (ctx.Err() != nil || errors.Is(err, ErrInterrupted)):
		res.ExitCode = engine.ExitInterrupted
		fmt.Fprintf(r.out, "\nINTERRUPTED during %s after %s; %s.\n", r.phase, res.Elapsed, cleaned)
		if errors.Is(err, ErrInterrupted) {
			return res, err
		}
		return res, fmt.Errorf("%w during %s: %w", ErrInterrupted, r.phase, err)
	case err != nil:
		res.ExitCode = engine.ExitFailed
		fmt.Fprintf(r.out, "\nThe rehearsal could not be completed: it failed during %s after %s; %s.\n", r.phase, res.Elapsed, cleaned)
		return res, err
	}
	res.ExitCode = res.Scorecard.ExitCode()
	fmt.Fprintf(r.out, "\n%s (%s)\n", res.Scorecard.Verdict(), res.Elapsed)
	return res, nil
}

// run does the rehearsal's work; every resource it acquires is released
// before it returns, on every path.
func (r *rehearsal) run(ctx context.Context) (err error) {
	var td teardown
	defer func() {
		if terr := td.run(r.out); terr != nil {
			r.leftBehind = true
			err = errors.Join(err, fmt.Errorf("teardown: %w", terr))
		}
	}()
	r.header()
	// Pushed first, so it runs last: a check that the teardown before it
	// left nothing behind.
	td.push(func() (string, error) {
		if r.res.Kept != nil || r.res.Sandbox.PostmasterPID == 0 {
			return "", nil
		}
		if left := r.res.Sandbox.Leftovers(); len(left) > 0 {
			return "", fmt.Errorf("left behind: %s", strings.Join(left, "; "))
		}
		return "checked: no server process, pgbench, port or directory of the sandbox is left", nil
	})

	r.phase = "sandbox start"
	heading(r.out, "Sandbox")
	binDir, err := sandbox.FindBinDir(r.opts.BinDir)
	if err != nil {
		return err
	}
	if r.opts.Clients > 0 {
		if _, err := sandbox.FindProgram(binDir, "pgbench"); err != nil {
			return fmt.Errorf("pgbench was not found in %s, next to initdb, nor in another PostgreSQL installation; it ships with the PostgreSQL server "+
				"(Debian/Ubuntu: postgresql; RHEL/Fedora: postgresql-contrib; macOS: brew install postgresql@16). "+
				"Or rehearse without load: --clients 0", binDir)
		}
	}
	fmt.Fprintf(r.out, "  binaries from %s\n", binDir)
	settings := r.opts.Scenario.serverSettings(r.opts.Clients)
	if len(settings) > 0 {
		fmt.Fprintf(r.out, "  server settings for this scenario: %s\n", settingsText(settings))
	}
	if r.cluster, err = sandbox.Start(ctx, sandbox.Options{BinDir: binDir, Settings: settings}); err != nil {
		return err
	}
	c := r.cluster
	r.res.Sandbox = SandboxInfo{Dir: c.Dir, SocketDir: c.SocketDir, Port: c.Port, PostmasterPID: c.PID()}
	td.push(func() (string, error) {
		if r.res.Kept != nil {
			return fmt.Sprintf("PostgreSQL left running (--keep): postmaster pid %d, directory %s", r.res.Kept.PID, c.Dir), nil
		}
		if err := c.Stop(); err != nil {
			return "", err
		}
		return fmt.Sprintf("PostgreSQL stopped (postmaster pid %d); %s removed", r.res.Sandbox.PostmasterPID, c.Dir), nil
	})
	fmt.Fprintf(r.out, "  cluster directory %s (%s)\n", c.Dir, map[bool]string{true: "kept running at the end: --keep", false: "removed at the end"}[r.opts.Keep])
	r.dsn = c.DSN(Database)
	if err := r.prepareDatabase(ctx); err != nil {
		return err
	}

	if r.opts.Clients > 0 {
		r.phase = "load start"
		heading(r.out, "Load")
		r.load, err = startLoad(ctx, c, r.dsn, r.opts.Clients)
		if r.load != nil {
			r.res.Sandbox.PgbenchPID = r.load.bench.PID()
			td.push(func() (string, error) {
				r.load.bench.Stop()
				return fmt.Sprintf("pgbench stopped (pid %d)", r.res.Sandbox.PgbenchPID), nil
			})
		}
		if err != nil {
			return err
		}
		fmt.Fprintf(r.out, "  pgbench %s (pid %d): %d clients connected\n", strings.Join(r.load.args, " "), r.load.bench.PID(), len(r.load.before))
		fmt.Fprintf(r.out, "  it runs until the rehearsal has looked at everything, then reports its failed transactions and aborted clients\n")
	}

	r.phase = "staging"
	heading(r.out, "Staging the incident in database "+Database)
	td.push(func() (string, error) {
		return fmt.Sprintf("%d staged session(s) closed", r.cast.closeAll()), nil
	})
	if err := r.cast.stage(ctx, r.out, r.dsn, r.opts.Scenario); err != nil {
		return err
	}
	backends, err := incident.ClientBackends(ctx, r.dsn)
	if err != nil {
		return err
	}
	r.cast.print(r.out, backends, r.load)

	r.phase = "the wait for the staged statements to age"
	wait := time.Until(r.cast.stagedAt.Add(r.opts.MinAge + ageMargin))
	fmt.Fprintf(r.out, "\n  Letting the staged statements run past %s before the playbooks look (%s). pgbench's statements\n", r.opts.MinAge, wait.Round(100*time.Millisecond))
	fmt.Fprintf(r.out, "  and lock waits last milliseconds, so the playbooks' min_* thresholds of %s keep its sessions out.\n", r.opts.MinAge)
	if err := sleep(ctx, wait); err != nil {
		return err
	}

	if err := r.runPlaybooks(ctx); err != nil {
		return err
	}

	r.phase = "scoring"
	heading(r.out, "Checking the outcome")
	obs, err := r.observe(ctx)
	if err != nil {
		return err
	}
	card := evaluate(obs)
	r.res.Scorecard = card
	heading(r.out, "Scorecard")
	card.Render(r.out)
	if err := appendScorecard(r.res.Transcripts, card); err != nil {
		return err
	}

	if r.opts.Keep {
		r.phase = "keeping the sandbox"
		heading(r.out, "Keeping the sandbox running (--keep)")
		r.cast.closeAll()
		if r.load != nil {
			r.load.bench.Stop()
		}
		kept, err := keep(ctx, c)
		if err != nil {
			return err
		}
		r.res.Kept = kept
		r.printKept(kept)
	}
	return nil
}

// header says what is about to be rehearsed.
func (r *rehearsal) header() {
	sc := r.opts.Scenario
	fmt.Fprintf(r.out, "pgrunbook rehearse %s: %s\n", sc.Name, sc.Summary)
	names := make([]string, len(r.runs))
	for i, p := range r.runs {
		names[i] = p.pb.Name
	}
	which := "recommended"
	if len(r.opts.Playbooks) > 0 {
		which = "chosen with --playbook"
	}
	mode := map[engine.Mode]string{engine.Interactive: "interactive", engine.DryRun: "dry run: nothing will be signalled", engine.Yes: "unattended (--yes)"}[r.opts.Mode]
	fmt.Fprintf(r.out, "  playbook%s: %s (%s); %s\n", plural(len(names)), strings.Join(names, ", then "), which, mode)
	if r.opts.Clients > 0 {
		fmt.Fprintf(r.out, "  load: pgbench, %d clients at %d transactions per second in all\n", r.opts.Clients, r.opts.Clients*ratePerClient)
	} else {
		fmt.Fprintln(r.out, "  load: none (--clients 0)")
	}
}

// prepareDatabase creates the rehearsal database, pgbench's tables and
// the lock table.
func (r *rehearsal) prepareDatabase(ctx context.Context) error {
	c := r.cluster
	sctx, cancel := context.WithTimeout(ctx, setupTimeout)
	defer cancel()
	version, err := incident.CreateDatabase(sctx, c.DSN(""), Database)
	if err != nil {
		return err
	}
	fmt.Fprintf(r.out, "  PostgreSQL %s at %s:%d (postmaster pid %d), superuser %s, trust authentication, unix socket in %s\n",
		version, c.Host, c.Port, c.PID(), c.User, c.SocketDir)
	done := []string{"database " + Database + " created"}
	if r.opts.Clients > 0 {
		cmd := c.Command(sctx, "pgbench", incident.PgbenchInitArgs(pgbenchScale, Database)...)
		ownProcessGroup(cmd)
		if err := incident.InitPgbench(sctx, cmd); err != nil {
			return err
		}
		done = append(done, fmt.Sprintf("pgbench -i -s %d done", pgbenchScale))
	}
	if err := incident.CreateLockTable(sctx, r.dsn, lockTable, lockRow); err != nil {
		return err
	}
	done = append(done, "table "+lockTable+" created")
	more, err := r.prepareScenario(sctx)
	if err != nil {
		return err
	}
	done = append(done, more...)
	fmt.Fprintf(r.out, "  %s\n", strings.Join(done, "; "))
	return ctx.Err()
}

// runPlaybooks runs each planned playbook in turn. An interrupted run
// ends the rehearsal; after an aborted one the rest are not run.
func (r *rehearsal) runPlaybooks(ctx context.Context) error {
	for _, p := range r.runs {
		r.results = append(r.results, playbookOutcome{name: p.pb.Name})
	}
	for i, p := range r.runs {
		r.phase = "playbook " + p.pb.Name
		if i > 0 && r.opts.Mode != engine.DryRun {
			r.drainVictims(ctx)
		}
		heading(r.out, fmt.Sprintf("Playbook %d of %d: %s%s", i+1, len(r.runs), p.pb.Name, setFlags(p.sets)))
		pr, err := r.opts.RunPlaybook(ctx, PlaybookRun{
			Scenario: r.opts.Scenario.Name, Index: i + 1, Count: len(r.runs), Playbook: p.pb,
			Values: p.vals, Sets: p.sets, DSN: r.dsn, Mode: r.opts.Mode,
		})
		if pr.Transcript != "" {
			r.res.Transcripts = append(r.res.Transcripts, pr.Transcript)
		}
		if err != nil {
			return fmt.Errorf("playbook %s: %w", p.pb.Name, err)
		}
		r.results[i] = playbookOutcome{name: p.pb.Name, ran: true, result: pr.Result}
		if pr.Result.ExitCode == engine.ExitInterrupted || ctx.Err() != nil {
			return fmt.Errorf("%w: playbook %s was interrupted", ErrInterrupted, p.pb.Name)
		}
		if pr.Result.ExitCode == engine.ExitAborted {
			break
		}
	}
	return nil
}

// drainVictims gives queued sessions whose lock was released a moment to
// get through before the next playbook looks: an operator would see the
// first playbook succeed before starting the next.
func (r *rehearsal) drainVictims(ctx context.Context) {
	deadline := time.NewTimer(drainTimeout)
	defer deadline.Stop()
	for _, s := range r.cast.ofRole(Victim) {
		select {
		case <-s.done():
		case <-deadline.C:
			return
		case <-ctx.Done():
			return
		}
	}
}

// printKept tells how to use and remove a kept sandbox.
func (r *rehearsal) printKept(k *Kept) {
	fmt.Fprintf(r.out, "  The sandbox was restarted detached from pgrunbook and keeps running (postmaster pid %d).\n", k.PID)
	fmt.Fprintln(r.out, "  The staged sessions ended with the restart; stage your own and practise, e.g.:")
	fmt.Fprintf(r.out, "\n    export %s\n", strings.Join(k.Env, " "))
	fmt.Fprintln(r.out, `    psql -c "SELECT pg_sleep(600)" &`)
	fmt.Fprintln(r.out, "    pgrunbook run cancel-long-queries --set min_runtime=5s")
	fmt.Fprintf(r.out, "\n  The same variables are in %s. Stop and remove it with:\n\n", filepath.Join(k.Dir, KeptFile))
	fmt.Fprintf(r.out, "    pgrunbook rehearse --stop %s\n", k.Dir)
}

// setFlags renders settings as --set flags.
func setFlags(sets []string) string {
	var b strings.Builder
	for _, s := range sets {
		b.WriteString(" --set " + s)
	}
	return b.String()
}

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}

// sleep waits for d or until ctx is done, on the engine's wall clock.
var sleep = engine.RealClock{}.Sleep

// heading starts a section of the report.
func heading(out io.Writer, title string) {
	fmt.Fprintf(out, "\n== %s\n", title)
}
