package transcript

import (
	"slices"
	"time"

	"github.com/pgrunbook/pgrunbook/internal/activity"
	"github.com/pgrunbook/pgrunbook/internal/managed"
)

// Event types.
const (
	RunStarted  = "run_started"
	StepStarted = "step_started"
	StepSkipped = "step_skipped"
	Note        = "note"
	Snapshot    = "snapshot"
	Selected    = "selected"
	// Summary is a summarize step's groups.
	Summary = "summary"
	// Horizon is what a horizon step read: slots, prepared transactions
	// and standbys that pin the xmin horizon.
	Horizon     = "horizon"
	Prompt      = "prompt"
	Intent      = "intent"
	Action      = "action"
	Waited      = "waited"
	Verified    = "verified"
	Warning     = "warning"
	RunFinished = "run_finished"
	// RunResumed marks where pgrunbook resume continued a transcript.
	RunResumed = "run_resumed"
)

// Mode is how a run answers its questions and whether it signals, as
// run_started records it (engine.Mode is this type).
type Mode string

// Run modes.
const (
	// ModeInteractive asks the operator at every confirmation.
	ModeInteractive Mode = "interactive"
	// ModeDryRun reads the live server and evaluates everything, records
	// each action it would take, and signals nothing.
	ModeDryRun Mode = "dry-run"
	// ModeYes answers every confirmation with "all", for automation; the
	// blast-radius limits still apply.
	ModeYes Mode = "yes"
)

// RunOutcome is how a run ended, as run_finished records it
// (engine.Outcome is this type).
type RunOutcome string

// Run outcomes.
const (
	RunDone        RunOutcome = "done"
	RunFailed      RunOutcome = "failed"
	RunRefused     RunOutcome = "refused"
	RunAborted     RunOutcome = "aborted"
	RunInterrupted RunOutcome = "interrupted"
	RunError       RunOutcome = "error"
	// RunConnectionLost ends a run whose connection could not be restored.
	RunConnectionLost RunOutcome = "connection_lost"
)

// Who answered a prompt.
const (
	ByOperator = "operator"
	ByDryRun   = "dry-run"
	ByYes      = "--yes"
)

// Event is one line of a transcript. Seq, Time and Type are always set;
// the other fields belong to the types that use them.
type Event struct {
	Seq  int64     `json:"seq"`
	Time time.Time `json:"time"`
	Type string    `json:"type"`
	// Prev is the hex SHA-256 of the previous line's bytes (without its
	// newline); the first event has none. The links make a hash chain
	// from run_started that VerifyChain checks.
	Prev string `json:"prev,omitempty"`

	// run_started
	Playbook string          `json:"playbook,omitempty"`
	Path     string          `json:"path,omitempty"`
	SHA256   string          `json:"sha256,omitempty"`
	Summary  string          `json:"summary,omitempty"`
	Params   map[string]any  `json:"parameters,omitempty"`
	Mode     Mode            `json:"mode,omitempty"`
	Server   *Server         `json:"server,omitempty"`
	Version  string          `json:"pgrunbook_version,omitempty"`
	Steps    int             `json:"steps,omitempty"`
	Settings map[string]bool `json:"settings,omitempty"`
	// Provenance is where the playbook came from: its git commit and
	// whether the file has uncommitted changes (run_started).
	Provenance *Provenance `json:"provenance,omitempty"`
	// Operator is who runs pgrunbook (run_started) and who answered
	// (prompt).
	Operator *Operator `json:"operator,omitempty"`

	// Step events: the step they belong to.
	Step      string `json:"step,omitempty"`
	StepIndex int    `json:"step_index,omitempty"` // 1-based
	Kind      string `json:"kind,omitempty"`
	Title     string `json:"title,omitempty"`

	// step_started (explain), step_skipped (reason), note, warning
	Text string `json:"text,omitempty"`

	// snapshot: every row read; selected: the target set
	Taken *time.Time         `json:"taken,omitempty"`
	Rows  []activity.Session `json:"rows,omitempty"`
	// ServerFacts holds the server facts of a snapshot event.
	ServerFacts *activity.Server `json:"server_facts,omitempty"`
	Excluded    []Excluded       `json:"excluded,omitempty"`
	Set         string           `json:"set,omitempty"`
	// Stable is the stable: expression of a multi-sample activity step's
	// selected event.
	Stable string `json:"stable,omitempty"`

	// summary
	Groups *GroupSummary `json:"groups,omitempty"`
	// horizon
	Holders *activity.Horizon `json:"horizon,omitempty"`

	// prompt
	Question string   `json:"question,omitempty"`
	Options  []string `json:"options,omitempty"`
	Answer   string   `json:"answer,omitempty"`
	By       string   `json:"by,omitempty"`
	Chosen   []int    `json:"chosen,omitempty"`
	// Typed is the number the operator typed to confirm a risky action.
	Typed int `json:"typed_count,omitempty"`

	// intent (Targets) and action (PID, identity, outcome)
	Function     activity.Function   `json:"function,omitempty"`
	Targets      []activity.Identity `json:"targets,omitempty"`
	PID          int                 `json:"pid,omitempty"`
	BackendStart *time.Time          `json:"backend_start,omitempty"`
	QueryStart   *time.Time          `json:"query_start,omitempty"`
	// Outcome is an action's activity.Outcome or run_finished's
	// RunOutcome (see SignalOutcome and RunOutcome).
	Outcome string `json:"outcome,omitempty"`
	Message string `json:"message,omitempty"`
	// WaitFor is how long a terminate's statement waits for each session
	// to exit (intent; PostgreSQL 14 and later).
	WaitFor time.Duration `json:"wait_for_ns,omitempty"`

	// verified
	Expect   string        `json:"expect,omitempty"`
	Passed   []int         `json:"passed,omitempty"`
	Failed   []int         `json:"failed,omitempty"`
	Polls    int           `json:"polls,omitempty"`
	Elapsed  time.Duration `json:"elapsed_ns,omitempty"`
	TimedOut bool          `json:"timed_out,omitempty"`

	// run_finished
	ExitCode *int `json:"exit_code,omitempty"`

	// run_resumed (also Playbook, Path, SHA256, Mode, Server, Version,
	// StepIndex: the step the resumed part starts at, Text)
	Resumed *Resumption `json:"resumed,omitempty"`
}

// RunOutcome is a run_finished event's outcome.
func (e Event) RunOutcome() RunOutcome { return RunOutcome(e.Outcome) }

// SignalOutcome is an action event's outcome.
func (e Event) SignalOutcome() activity.Outcome { return activity.Outcome(e.Outcome) }

// Server describes the server and role of a run. It never holds a password.
type Server struct {
	Host       string `json:"host"`
	Port       int    `json:"port"`
	User       string `json:"user"`
	Database   string `json:"database"`
	Version    string `json:"server_version"`
	VersionNum int    `json:"server_version_num,omitempty"`
	BackendPID int    `json:"backend_pid"`
	Superuser  bool   `json:"superuser"`
	// SignalBackend and ReadAllStats are memberships in the predefined
	// roles pg_signal_backend and pg_read_all_stats.
	SignalBackend bool `json:"pg_signal_backend"`
	ReadAllStats  bool `json:"pg_read_all_stats"`
	// Settings are pgrunbook's session settings as read back from the
	// server after they were applied.
	Settings map[string]string `json:"session_settings,omitempty"`
	// Pooler is the connection pooler pgrunbook's own session goes
	// through (session pooling only); absent for a direct connection.
	Pooler *Pooler `json:"pooler,omitempty"`
	// PoolerConsole is the --pooler admin console that maps pooled
	// backends to their clients; absent without --pooler.
	PoolerConsole *PoolerConsole `json:"pooler_console,omitempty"`
	// Provider is the managed service the server was recognised as by
	// its marker roles and databases (absent for none); ReservedSlots the
	// server's connection reserves and which of them the role may use.
	Provider      *managed.Provider       `json:"provider,omitempty"`
	ReservedSlots []managed.ReservedSlots `json:"reserved_slots,omitempty"`
}

// Operator is the person (or job) running pgrunbook, as the operating
// system and the command line describe them.
type Operator struct {
	// Name is --operator, when given.
	Name string `json:"name,omitempty"`
	// OSUser is the operating-system user running pgrunbook.
	OSUser string `json:"os_user"`
	// Host is the name of the machine pgrunbook runs on.
	Host string `json:"host"`
	// Terminal is the terminal device pgrunbook runs on ("/dev/pts/3"),
	// absent without one.
	Terminal string `json:"terminal,omitempty"`
	// SSHClient is the address (host:port) the operator's SSH session
	// comes from, from SSH_CONNECTION or SSH_CLIENT; absent outside SSH.
	SSHClient string `json:"ssh_client,omitempty"`
}

// Playbook sources, as recorded in Provenance.Source.
const (
	// SourceGit is a file in a git work tree.
	SourceGit = "git"
	// SourceFile is a file git could not describe (not in a work tree,
	// git missing or too slow).
	SourceFile = "file"
	// SourceBuiltin is a playbook embedded in the binary.
	SourceBuiltin = "builtin"
)

// Provenance says where a playbook came from.
type Provenance struct {
	// Source is SourceGit, SourceFile or SourceBuiltin.
	Source string `json:"source"`
	// Commit is the work tree's HEAD commit (SourceGit).
	Commit string `json:"commit,omitempty"`
	// Uncommitted reports that the file differs from Commit: modified,
	// staged, untracked or ignored (SourceGit).
	Uncommitted bool `json:"uncommitted_changes"`
	// Version is pgrunbook's version, for a built-in playbook.
	Version string `json:"pgrunbook_version,omitempty"`
	// Problem says why git could not describe the file (SourceFile).
	Problem string `json:"problem,omitempty"`
}

// Pooler describes a connection pooler between pgrunbook and the server.
type Pooler struct {
	Addr string `json:"address"`
	// Name is what the pooler says it is ("PgBouncer 1.18.0"), if known.
	Name     string `json:"name,omitempty"`
	PoolMode string `json:"pool_mode"`
	// ProtocolPID is the pid the pooler handed out in place of the
	// server's (BackendPID above is the server's).
	ProtocolPID int    `json:"protocol_pid"`
	Evidence    string `json:"evidence,omitempty"`
}

// PoolerConsole describes the --pooler admin console.
type PoolerConsole struct {
	Addr    string `json:"address"`
	Version string `json:"version"`
}

// Excluded is a session of a set that is shown but will not be targeted,
// with the reason.
type Excluded struct {
	Session activity.Session `json:"session"`
	Reason  string           `json:"reason"`
}

// GroupSummary is what a summarize step found: its groups, largest first.
type GroupSummary struct {
	// By are the row fields the sessions were grouped by.
	By []string `json:"by"`
	// Groups are the groups shown (at most the step's top).
	Groups []Group `json:"groups"`
	// Sessions counts the sessions summarized; TotalGroups the groups
	// before top cut the list.
	Sessions    int `json:"sessions"`
	TotalGroups int `json:"total_groups"`
}

// Group is one group of a summary.
type Group struct {
	// Key holds the group's values of the By fields, as text, in order
	// ("" for a null value).
	Key   []string `json:"key"`
	Count int      `json:"count"`
	PIDs  []int    `json:"pids"`
}

// redacted returns the summary with the values of a query key replaced by
// RedactedQuery, for a transcript written with RedactQueries.
func (g *GroupSummary) redacted() *GroupSummary {
	if g == nil {
		return nil
	}
	i := slices.Index(g.By, "query")
	if i < 0 {
		return g
	}
	out := *g
	out.Groups = make([]Group, len(g.Groups))
	for j, grp := range g.Groups {
		key := append([]string(nil), grp.Key...)
		if i < len(key) && key[i] != "" {
			key[i] = RedactedQuery
		}
		out.Groups[j] = Group{Key: key, Count: grp.Count, PIDs: grp.PIDs}
	}
	return &out
}

// Resumption is what a run_resumed event records about the resume.
type Resumption struct {
	// By is who resumed the run: OS user, host, terminal, SSH client.
	By string `json:"by"`
	// AfterSeq is the seq of the last event of the earlier part.
	AfterSeq int64 `json:"after_seq"`
	// PreviousOutcome is how the earlier part ended ("" when it was
	// killed before it could say).
	PreviousOutcome RunOutcome `json:"previous_outcome,omitempty"`
	// PlaybookChanged holds the sha256 the run started with when the
	// playbook changed since and the operator accepted it
	// (--accept-changed-playbook).
	PlaybookChanged string `json:"accepted_changed_playbook_from,omitempty"`
	// DroppedLine is the final line that was cut off mid-write, removed
	// from the file so the chain could go on, kept here.
	DroppedLine string `json:"dropped_partial_line,omitempty"`
	// Reconcile counts the intents without an outcome that are checked
	// against a fresh snapshot.
	Reconcile int `json:"reconcile,omitempty"`
}
