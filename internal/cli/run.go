package cli

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"github.com/spf13/pflag"
	"golang.org/x/term"

	"github.com/pgrunbook/pgrunbook/engine"
	"github.com/pgrunbook/pgrunbook/internal/hoststat"
	"github.com/pgrunbook/pgrunbook/internal/pg"
	"github.com/pgrunbook/pgrunbook/internal/playbook"
	"github.com/pgrunbook/pgrunbook/internal/position"
	"github.com/pgrunbook/pgrunbook/internal/prompt"
	"github.com/pgrunbook/pgrunbook/internal/render"
	"github.com/pgrunbook/pgrunbook/internal/transcript"
)

func runCmd() *command {
	c := &command{
		name: "run", summary: "run a playbook against a server",
		usage: "PLAYBOOK [FLAGS]",
		about: `Runs a playbook: a built-in name (see pgrunbook list) or a path to a YAML file.
By default it is interactive and asks before every cancel or terminate.`,
		flagsWhere: "before or after PLAYBOOK",
		notes: `pgrunbook itself connects directly or through a session pooler; through a
transaction or statement pooler it refuses (exit 2): give -d a direct DSN.

Without a terminal, give --yes or --dry-run.
Exit codes: 0 done and verified, or a dry run that finished (it signals
nothing, and says what a real run would have done); 1 something failed;
2 bad usage or invalid playbook; 3 aborted by the operator; 130 interrupted
(Ctrl-C, SIGTERM, or SIGHUP: the terminal hung up, and the run stops rather
than go on unattended).`,
		args: argPlaybook,
	}
	c.setup = func(fs *pflag.FlagSet) runFunc {
		var f runFlags
		dsnFlag(fs, &f.dsn, "connection string or URI, as psql takes it; the libpq variables PGHOST, PGPORT, PGUSER, PGPASSWORD, PGDATABASE, PGSERVICE, PGSSLMODE and PGPASSFILE apply too")
		fs.BoolVar(&f.dryRun, "dry-run", false, "read the live server and show every action the run would take; signal nothing")
		yesFlag(fs, &f.yes, `answer every confirmation with "all", for automation; blast-radius limits still apply`)
		setFlag(fs, &f.sets, "set a playbook parameter (repeatable)")
		protectFlag(fs, &f.protect, `never target sessions for which EXPR is true, e.g. 'usename == "replicator"' (repeatable)`)
		maxTargetsFlag(fs, &f.maxTargets, "blast-radius limit for every cancel/terminate step, overriding the playbook's max_targets")
		fs.StringVar(&f.transcript, "transcript", "", "`FILE` where to write the transcript, a new file whose directory is created if missing (default: a new file in $PGRUNBOOK_TRANSCRIPT_DIR, else $XDG_STATE_HOME/pgrunbook/transcripts, else ~/.local/state/pgrunbook/transcripts)")
		redactFlag(fs, &f.redact)
		statementTimeoutFlag(fs, &f.statementTimeout, "bound on each of pgrunbook's own statements; an answer still missing 2s later counts as a lost connection (a dead network), and pgrunbook reconnects")
		staleAfterFlag(fs, &f.staleAfter, "an answer given later than this after a table was shown re-reads the sessions first and, if the chosen ones changed, asks again")
		reconnectForFlag(fs, &f.reconnectFor, "how long to try to restore a lost connection (a restarted server, a dead network) before the run ends connection_lost")
		poolerFlag(fs, &f.pooler, "a PgBouncer admin console (database pgbouncer, an admin_users or stats_users role): every pooled backend is shown with the pooler's client linked to it now")
		operatorFlag(fs, &f.operator, "who runs the playbook, recorded with the OS user, host, terminal and SSH client in the transcript, on every answer and in the server log line of every signal")
		fs.BoolVar(&f.requireCommitted, "require-committed", false, "refuse (exit 2, nothing run) a playbook file that is not committed in a git work tree or has uncommitted changes; built-in playbooks are always allowed")
		fs.StringVar(&f.notify, "notify", "", "`CMD` run CMD (with sh -c) for each intent, action and run_finished event, the event as one JSON line on its standard input; one at a time, in order, never holding up the run; a failure is recorded as a warning")
		fs.DurationVar(&f.notifyTimeout, "notify-timeout", DefaultNotifyTimeout, "`DURATION` kill a --notify command still running after this")
		f.output = outputFlag(fs, "every transcript event as one JSON line on stdout and nothing else there (for orchestrators); needs --yes or --dry-run")
		return func(ctx context.Context, pos []string, stdio IO) error {
			return f.runPlaybook(ctx, c, pos, stdio)
		}
	}
	return c
}

// runFlags are run's flags; resume and watch use the ones they share.
type runFlags struct {
	dsn, transcript  string
	dryRun, yes      bool
	redact           bool
	sets, protect    []string
	maxTargets       int
	statementTimeout time.Duration
	staleAfter       time.Duration
	reconnectFor     time.Duration
	pooler           string
	operator         string
	requireCommitted bool
	notify           string
	notifyTimeout    time.Duration
	output           *string
}

// The flags run, resume, watch and rehearse share, each defined with the
// command's own help text.

func dsnFlag(fs *pflag.FlagSet, dsn *string, help string) {
	fs.StringVarP(dsn, "dsn", "d", "", "`DSN` "+help)
}

func yesFlag(fs *pflag.FlagSet, yes *bool, help string) {
	fs.BoolVarP(yes, "yes", "y", false, help)
}

func setFlag(fs *pflag.FlagSet, sets *[]string, help string) {
	fs.StringArrayVar(sets, "set", nil, "`NAME=VALUE` "+help)
}

func protectFlag(fs *pflag.FlagSet, protect *[]string, help string) {
	fs.StringArrayVar(protect, "protect", nil, "`EXPR` "+help)
}

func maxTargetsFlag(fs *pflag.FlagSet, n *int, help string) {
	fs.IntVar(n, "max-targets", 0, "`N` "+help)
}

func redactFlag(fs *pflag.FlagSet, redact *bool) {
	fs.BoolVar(redact, "redact-queries", false, `write "<redacted>" instead of query text in the transcript`)
}

func statementTimeoutFlag(fs *pflag.FlagSet, d *time.Duration, help string) {
	fs.DurationVar(d, "statement-timeout", pg.DefaultStatementTimeout, "`DURATION` "+help)
}

// resolveRun finds the playbook run and watch name, resolves its --set
// values and compiles the --protect expressions; bad values are usage
// errors.
func resolveRun(name string, sets, protect []string) (*playbook.Playbook, playbook.Values, []*playbook.Expr, error) {
	pb, err := resolvePlaybook(name)
	if err != nil {
		return nil, nil, nil, err
	}
	vals, err := pb.Resolve(sets)
	if err != nil {
		return nil, nil, nil, usageErrorf("%v", err)
	}
	rules, err := pb.CompileProtect(protect)
	if err != nil {
		return nil, nil, nil, usageErrorf("%v", err)
	}
	return pb, vals, rules, nil
}

// connectError is a failed pg.Connect as the command's error: a pooler
// that refuses pgrunbook means the DSN points at the wrong place, bad
// usage; anything else is a failure, with what was left said after it.
func connectError(err error, left string) error {
	var refused *pg.PoolingRefusedError
	if errors.As(err, &refused) {
		return usageErrorf("%v", err)
	}
	return failf("%v%s", err, left)
}

func reconnectForFlag(fs *pflag.FlagSet, d *time.Duration, help string) {
	fs.DurationVar(d, "reconnect-for", engine.DefaultReconnectFor, "`DURATION` "+help)
}

func staleAfterFlag(fs *pflag.FlagSet, d *time.Duration, help string) {
	fs.DurationVar(d, "stale-after", engine.DefaultStaleAfter, "`DURATION` "+help)
}

func poolerFlag(fs *pflag.FlagSet, dsn *string, help string) {
	fs.StringVar(dsn, "pooler", "", "`DSN` "+help)
}

func operatorFlag(fs *pflag.FlagSet, name *string, help string) {
	fs.StringVar(name, "operator", "", "`NAME` "+help)
}

func (f *runFlags) runPlaybook(ctx context.Context, c *command, pos []string, stdio IO) error {
	if len(pos) != 1 {
		return usageErrorf("run takes one playbook, got %d arguments\n\n%s", len(pos), c.help())
	}
	if f.maxTargets < 0 {
		return usageErrorf("--max-targets must be at least 1")
	}
	if f.staleAfter <= 0 || f.statementTimeout <= 0 || f.notifyTimeout <= 0 || f.reconnectFor <= 0 {
		return usageErrorf("--stale-after, --statement-timeout, --notify-timeout and --reconnect-for must be positive durations")
	}
	if err := checkJSONRun(*f.output, f.dryRun, f.yes); err != nil {
		return err
	}

	// The connection is made while the playbook loads: the server's
	// part of connecting (a new backend, the set-up statement, the first
	// snapshot) is most of a run's start. It signals nothing, and a run
	// that stops before using it closes it.
	conn := startConnect(ctx, pg.Options{DSN: f.dsn, StatementTimeout: f.statementTimeout, PoolerDSN: f.pooler, FirstSnapshot: true, WarmUp: !f.dryRun})
	defer conn.abandon(ctx)

	pb, vals, protect, err := resolveRun(pos[0], f.sets, f.protect)
	if err != nil {
		return err
	}

	prov := playbookProvenance(ctx, pb)
	if f.requireCommitted {
		if err := checkCommitted(prov, pb.Path); err != nil {
			return err
		}
	}

	mode, err := runMode(f.dryRun, f.yes, stdio)
	if err != nil {
		return err
	}

	path := f.transcript
	if path == "" {
		path, err = defaultTranscriptPath(pb.Name, time.Now())
		if err != nil {
			return failf("%v (give --transcript FILE)", err)
		}
	}
	res, err := playbookRun{
		pb: pb, vals: vals, protect: protect, mode: mode,
		dsn: f.dsn, statementTimeout: f.statementTimeout,
		transcriptPath: path, redact: f.redact, maxTargets: f.maxTargets,
		staleAfter: f.staleAfter, reconnectFor: f.reconnectFor, poolerDSN: f.pooler,
		operator: currentOperator(f.operator, stdio), provenance: prov,
		notify: f.notify, notifyTimeout: f.notifyTimeout,
		jsonOut: *f.output == outputJSON, connecting: conn,
	}.execute(ctx, stdio)
	if err != nil {
		return err
	}
	return resultError(res)
}

// runMode is how a run answers its confirmations: --dry-run, --yes, or
// the operator at the terminal. Without a terminal on both stdin and
// stdout and without either flag nobody could answer, so it refuses.
func runMode(dryRun, yes bool, stdio IO) (engine.Mode, error) {
	switch {
	case dryRun:
		return engine.DryRun, nil
	case yes:
		return engine.Yes, nil
	case !isTerminal(stdio.In) || !isTerminal(stdio.OutFile):
		return "", usageErrorf("not a terminal, and nobody can answer the confirmations: use --dry-run to see what the run would do, or --yes to act without asking (blast-radius limits still apply)")
	}
	return engine.Interactive, nil
}

// playbookRun is one run of a loaded playbook, as `run` performs it.
type playbookRun struct {
	pb               *playbook.Playbook
	vals             playbook.Values
	protect          []*playbook.Expr
	mode             engine.Mode
	dsn              string
	statementTimeout time.Duration
	transcriptPath   string
	redact           bool
	maxTargets       int
	// staleAfter is engine.Options.StaleAfter and reconnectFor
	// engine.Options.ReconnectFor; zero means the default.
	staleAfter, reconnectFor time.Duration
	// poolerDSN is --pooler, a PgBouncer admin console; "" for none.
	poolerDSN string
	// operator and provenance are recorded in run_started; nil for none.
	operator   *transcript.Operator
	provenance *transcript.Provenance
	// notify is --notify, a shell command; "" for none. notifyTimeout
	// bounds each of its runs.
	notify        string
	notifyTimeout time.Duration
	// jsonOut is --output json: events go to stdio.Out as JSON lines
	// instead of the rendered screen.
	jsonOut bool
	// connecting, when not nil, is the connection already being made
	// (startConnect); execute takes it over. Without it execute connects
	// with dsn, statementTimeout and poolerDSN.
	connecting *connecting
}

// connecting is a connection being made in the background.
type connecting struct {
	done   chan struct{}
	cancel context.CancelFunc // ends the attempt
	client *pg.Client
	err    error
	taken  bool
}

// startConnect makes a connection with opts in the background.
func startConnect(ctx context.Context, opts pg.Options) *connecting {
	ctx, cancel := context.WithCancel(ctx)
	c := &connecting{done: make(chan struct{}), cancel: cancel}
	go func() {
		defer close(c.done)
		c.client, c.err = pg.Connect(ctx, opts)
	}()
	// The connection goes first: it soon waits on the network, and the
	// server's part of connecting (a new backend, the first statements)
	// is the longest wait of a run's start. The caller's work then runs
	// while the server forks, instead of the server waiting for it.
	runtime.Gosched()
	return c
}

// take waits for the connection and hands it over: abandon leaves it
// alone from then on.
func (c *connecting) take() (*pg.Client, error) {
	<-c.done
	c.cancel() // the connection is made: nothing uses the context now
	c.taken = true
	return c.client, c.err
}

// abandon ends the attempt, unless the connection was taken, and closes
// the connection if it was made: a run that stopped before using it (a
// playbook that does not load, say) returns at once, not after a
// connect timeout to a server that does not answer.
func (c *connecting) abandon(ctx context.Context) {
	if c == nil || c.taken {
		return
	}
	c.cancel()
	if client, err := c.take(); err == nil {
		client.Close(ctx)
	}
}

// execute runs the playbook: the transcript exists before pgrunbook uses
// its connection (nothing is signalled without a record), the engine renders
// to stdio.Out and, in interactive mode, asks on the terminal. It returns
// the engine's result. execute opens the transcript at r.transcriptPath
// and closes it before it returns, on every path (and removes it if the
// connection failed): a caller that adds to it (rehearse's scorecard)
// opens it again with transcript.OpenAppend.
func (r playbookRun) execute(ctx context.Context, stdio IO) (engine.Result, error) {
	path := r.transcriptPath
	tw, err := transcript.Create(path)
	if err != nil {
		r.connecting.abandon(ctx)
		return engine.Result{}, failf("%v; nothing was done", err)
	}
	// Closed last, after the deferred close of the notifier, whose
	// warnings go into the transcript too.
	defer tw.Close()
	tw.RedactQueries = r.redact

	conn := r.connecting
	if conn == nil {
		conn = startConnect(ctx, pg.Options{DSN: r.dsn, StatementTimeout: r.statementTimeout, PoolerDSN: r.poolerDSN, FirstSnapshot: true, WarmUp: r.mode != engine.DryRun})
	}
	client, err := conn.take()
	if err != nil {
		tw.Close()
		os.Remove(path)
		return engine.Result{}, connectError(err, "")
	}
	defer client.Close(ctx)

	client.SetAudit(pg.Audit{Run: auditRunName(path), Operator: auditOperator(r.operator), Playbook: r.pb.Name})

	width := terminalWidth(stdio.OutFile)
	color := render.ColorFor(isTerminal(stdio.OutFile))
	rd := &render.Renderer{W: stdio.Out, Width: width, TranscriptPath: path, Color: color}
	show := rd.Events
	if r.jsonOut {
		// The screen would name the transcript; stderr does instead.
		fmt.Fprintf(stdio.Err, "pgrunbook: transcript: %s\n", path)
		show = jsonEventShow(stdio, r.redact)
	}
	if r.notify != "" {
		n := newNotifier(r.notify, r.notifyTimeout, func(msg string) {
			_, _ = tw.Write(transcript.Event{Type: transcript.Warning, Text: msg})
			fmt.Fprintf(stdio.Err, "pgrunbook: %s\n", msg)
		})
		// Whatever is still queued when the run ends gets one more
		// timeout's worth of time, then is dropped with a warning.
		defer n.close(r.notifyTimeout + time.Second)
		shown := show
		show = func(evs []transcript.Event) {
			shown(evs)
			for _, ev := range evs {
				n.event(ev)
			}
		}
	}
	info := client.Info()
	opts := engine.Options{
		Playbook:     r.pb,
		Params:       r.vals,
		DB:           client,
		Mode:         r.mode,
		Transcript:   tw,
		ShowBatch:    show,
		Server:       serverRecord(info),
		Host:         hoststat.Sampler{},
		Protect:      r.protect,
		MaxTargets:   r.maxTargets,
		StaleAfter:   r.staleAfter,
		ReconnectFor: r.reconnectFor,
		Version:      version(),
		Operator:     r.operator,
		Provenance:   r.provenance,
	}
	if r.mode == engine.Interactive {
		term := &prompt.Terminal{In: stdio.In, Out: stdio.OutFile, Err: stdio.Err, Width: width, Color: color}
		// A terminal opened afresh lets a signal wake a waiting prompt.
		if tty, err := prompt.OpenTTY(); err == nil {
			defer tty.Close()
			term.In = tty
		}
		opts.Prompter = term
	}
	res, err := engine.Run(ctx, opts)
	if err != nil {
		return res, failf("the transcript could not be written, so the run stopped: %v", err)
	}
	return res, nil
}

// resolvePlaybook loads a playbook from a path, or a built-in by name.
func resolvePlaybook(arg string) (*playbook.Playbook, error) {
	if looksLikePath(arg) {
		pb, err := playbook.Load(arg)
		var list position.List
		if err != nil && !errors.As(err, &list) {
			return nil, usageErrorf("cannot read playbook: %v", err)
		}
		return pb, err
	}
	pb, err := builtinPlaybook(arg)
	if err != nil {
		return nil, err
	}
	return pb, nil
}

func looksLikePath(arg string) bool {
	if strings.ContainsRune(arg, os.PathSeparator) || strings.HasSuffix(arg, ".yaml") || strings.HasSuffix(arg, ".yml") {
		return true
	}
	_, err := os.Stat(arg)
	return err == nil
}

// defaultTranscriptPath names a new transcript file for a run.
func defaultTranscriptPath(name string, now time.Time) (string, error) {
	dir := os.Getenv("PGRUNBOOK_TRANSCRIPT_DIR")
	if dir == "" {
		state := os.Getenv("XDG_STATE_HOME")
		if state == "" {
			home, err := os.UserHomeDir()
			if err != nil {
				return "", fmt.Errorf("no home directory for the default transcript location")
			}
			state = filepath.Join(home, ".local", "state")
		}
		dir = filepath.Join(state, "pgrunbook", "transcripts")
	}
	file := fmt.Sprintf("%s-%s-%d.jsonl", now.UTC().Format("20060102T150405Z"), name, os.Getpid())
	return filepath.Join(dir, file), nil
}

func isTerminal(f *os.File) bool {
	return f != nil && term.IsTerminal(int(f.Fd()))
}

func terminalWidth(f *os.File) int {
	if f != nil {
		if w, _, err := term.GetSize(int(f.Fd())); err == nil && w > 0 {
			return w
		}
	}
	return 120
}

// transcriptPooler records the pooler pgrunbook's session goes through.
func transcriptPooler(p *pg.PoolerInfo) *transcript.Pooler {
	if p == nil {
		return nil
	}
	return &transcript.Pooler{Addr: p.Addr, Name: p.Name, PoolMode: p.PoolMode, ProtocolPID: p.ProtocolPID, Evidence: p.Evidence}
}

// transcriptConsole records the --pooler console.
func transcriptConsole(c *pg.ConsoleInfo) *transcript.PoolerConsole {
	if c == nil {
		return nil
	}
	return &transcript.PoolerConsole{Addr: c.Addr, Version: c.Version}
}

// serverRecord is what run_started records of the server and the role
// pgrunbook is connected as: one definition for run, resume and watch.
func serverRecord(info pg.ServerInfo) transcript.Server {
	return transcript.Server{
		Host: info.Host, Port: info.Port, User: info.User, Database: info.Database, Version: info.Version, VersionNum: info.VersionNum,
		BackendPID: info.PID, Superuser: info.Privileges.Superuser,
		SignalBackend: info.Privileges.SignalBackend, ReadAllStats: info.Privileges.ReadAllStats,
		Settings: info.Settings, Pooler: transcriptPooler(info.Pooler), PoolerConsole: transcriptConsole(info.Console),
		Provider: info.Provider, ReservedSlots: info.ReservedSlots,
	}
}
