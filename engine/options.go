package engine

import (
	"context"
	"errors"
	"time"

	"github.com/pgrunbook/pgrunbook/internal/activity"
	"github.com/pgrunbook/pgrunbook/internal/playbook"
	"github.com/pgrunbook/pgrunbook/internal/transcript"
)

// Database is where sessions are read and signalled: a live server through
// the pg package, or a recorded source in tests.
type Database interface {
	// Snapshot reads pg_stat_activity now, with derived fields filled in.
	Snapshot(ctx context.Context) (*activity.Snapshot, error)
	// Signal sends fn to each target whose identity still holds and
	// returns one result per target, in order. With an error it may still
	// return one result per target: those whose outcome it knows, and the
	// others as errors (a connection lost halfway through a batch sent
	// one statement per target); without that, every target's outcome is
	// unknown.
	Signal(ctx context.Context, fn activity.Function, targets []activity.SignalTarget, backendTypes []string) ([]activity.SignalResult, error)
	// Horizon reads what pins the xmin horizon besides sessions:
	// replication slots, prepared transactions, standbys with
	// hot_standby_feedback. It only reads.
	Horizon(ctx context.Context) (*activity.Horizon, error)
}

// TargetReader is a Database that can read the rows of some sessions
// only, with their facts as a full snapshot has them (lock facts too),
// and the rows of every session in a lock chain. A verify whose
// expectation is built in (gone, query_stopped) needs nothing else of a
// poll, and reading a few rows instead of every session's is what makes
// its polls cheap on a busy server. The server's facts (connection counts)
// count only the rows read, so such a snapshot never becomes the run's
// latest.
type TargetReader interface {
	SnapshotOf(ctx context.Context, pids []int) (*activity.Snapshot, error)
}

// HostSampler reads host facts about sessions from the operating system
// of the database host: Sample fills the HostStats, CPUPercent,
// MemoryBytes, IOReadRate and IOWriteRate fields of rows, measuring
// rates over interval. An error means the facts are not available (the
// server runs on another host, /proc is unreadable); the engine then
// says so and leaves host_stats false.
type HostSampler interface {
	Sample(ctx context.Context, rows []activity.Session, interval time.Duration) error
}

// Mode is how a run answers its questions and whether it signals; it is
// the type run_started records, so the transcript names the same values.
type Mode = transcript.Mode

// Run modes.
const (
	// Interactive asks the operator at every confirmation.
	Interactive = transcript.ModeInteractive
	// DryRun reads the live server and evaluates everything, records each
	// action it would take, and signals nothing.
	DryRun = transcript.ModeDryRun
	// Yes answers every confirmation with "all", for automation; the
	// blast-radius limits still apply.
	Yes = transcript.ModeYes
)

// Choice is the operator's answer to a confirmation.
type Choice string

// Answers to a confirmation.
const (
	ChooseAll    Choice = "all"
	ChooseSubset Choice = "subset"
	ChooseSkip   Choice = "skip"
	ChooseAbort  Choice = "abort"
	// ChooseRefresh asks for a fresh snapshot and the question again.
	ChooseRefresh Choice = "refresh"
)

// Question asks what to do with a set of sessions.
type Question struct {
	// Text is the question, e.g. "Cancel the statements of these 3 sessions?".
	Text string
	// Action is the signal the answer approves: activity.Cancel or
	// activity.Terminate.
	Action activity.Function
	// Rows are the sessions the answer applies to.
	Rows []activity.Session
	// Limit is the most sessions that may be chosen; when len(Rows) is
	// above it, ChooseAll is not offered.
	Limit int
	// Taken is when the rows were read, so the prompt can say how old
	// the table is.
	Taken time.Time
	// Server is the server the answer acts on (nil when unknown), shown
	// right above the question.
	Server *activity.Server
}

// NeedsTypedCount reports whether approving n sessions for action must be
// confirmed by typing n: every terminate, and any action on more than one
// session. A slip of the arrow key must not be enough to end sessions.
func NeedsTypedCount(action activity.Function, n int) bool {
	return action == activity.Terminate || n > 1
}

// signalOf is the signal an action step of kind sends (a cancel or a
// terminate step's kind, as playbook.KindCancel and KindTerminate name
// them).
func signalOf(kind string) activity.Function {
	if kind == playbook.KindTerminate {
		return activity.Terminate
	}
	return activity.Cancel
}

// Answer is the operator's decision. PIDs lists the chosen sessions when
// Choice is ChooseSubset. TypedCount is the number the operator typed to
// confirm, when NeedsTypedCount asked for one.
type Answer struct {
	Choice     Choice
	PIDs       []int
	TypedCount int
}

// Prompter asks the operator. It is used only in Interactive mode.
type Prompter interface {
	Choose(ctx context.Context, q Question) (Answer, error)
}

// ErrInterrupted is returned by a Prompter when the operator pressed
// Ctrl-C at a prompt.
var ErrInterrupted = errors.New("interrupted")

// Options configure one run.
type Options struct {
	Playbook *playbook.Playbook
	// Params are the run's parameter values (playbook.Resolve).
	Params playbook.Values
	DB     Database
	Mode   Mode
	// Prompter answers confirmations in Interactive mode.
	Prompter Prompter
	// Transcript records every event before it is shown. Required.
	Transcript *transcript.Writer
	// Show displays an event to the operator; nil shows nothing.
	Show func(transcript.Event)
	// ShowBatch, when not nil, displays in Show's place the events of one
	// transcript write together: the outcomes of one signalling statement
	// come as one batch, which a display can write at once (one system
	// call for 200 lines, where a terminal over SSH pays for each).
	ShowBatch func([]transcript.Event)
	// Server describes the connection for the run_started event.
	Server transcript.Server
	// Protect holds run-level protection rules (--protect), compiled with
	// playbook.CompileProtect, added to the playbook's own.
	Protect []*playbook.Expr
	// MaxTargets, when positive, overrides every action step's limit.
	MaxTargets int
	// Operator is who runs pgrunbook, recorded in run_started and on
	// every prompt event; nil records none.
	Operator *transcript.Operator
	// Provenance is where the playbook came from, for run_started.
	Provenance *transcript.Provenance
	// Version is pgrunbook's version, for the transcript.
	Version string
	// PollInterval is the first pause between verify polls; it grows by
	// half each poll up to MaxPollInterval. Defaults DefaultPollInterval
	// and DefaultMaxPollInterval.
	PollInterval, MaxPollInterval time.Duration
	// StaleAfter is how old a confirmation's table may get while the
	// operator thinks: an answer given later than this refreshes the
	// sessions and, if they changed, asks again. Default DefaultStaleAfter.
	StaleAfter time.Duration
	// ReconnectFor bounds how long a run tries to restore a lost
	// connection before it ends with outcome connection_lost.
	// Default DefaultReconnectFor.
	ReconnectFor time.Duration
	// Host reads host facts for activity steps with host_stats: true;
	// nil means they are unavailable (the server is not on this host).
	Host HostSampler
	// Clock is the run's time: what it records as elapsed, and how it
	// waits between polls, reconnect attempts and samples and during a
	// fixed wait. Nil is the wall clock (RealClock). An offline source
	// passes a simulated clock that advances when the engine sleeps, so
	// its verifies and waits poll on the same schedule without pausing.
	// The host sampler measures its interval on its own.
	Clock Clock
	// BeforeSignal, when set, is asked before each cancel or terminate
	// statement, with the identities about to be signalled (in a dry run
	// too, though nothing is sent). An error stops the run refused, with
	// the error as its message, before the intent is recorded and before
	// anything is sent: the circuit breaker of pgrunbook watch.
	BeforeSignal func(fn activity.Function, targets []activity.Identity) error
	// Resume, when set, continues the run recorded in a transcript
	// instead of starting one (resume.go); Transcript must then append to
	// that transcript.
	Resume *ResumeFrom
}

// Verify and wait polling: a few milliseconds at first, when a cancelled
// statement usually stops, then at most every 40ms, so a stop is noticed
// within tens of milliseconds (docs/performance.md has the measurements).
const (
	DefaultPollInterval    = 2 * time.Millisecond
	DefaultMaxPollInterval = 40 * time.Millisecond
)

// DefaultStaleAfter is the default Options.StaleAfter.
const DefaultStaleAfter = 60 * time.Second
