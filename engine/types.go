package engine

import (
	"io"

	"github.com/pgrunbook/pgrunbook/internal/activity"
	"github.com/pgrunbook/pgrunbook/internal/playbook"
	"github.com/pgrunbook/pgrunbook/internal/transcript"
)

// The types Options, Database and Prompter are made of live in internal
// packages, which a program outside this module cannot import. These
// aliases name them from here (their fields and methods come along), and
// the functions below make the values Options needs, so the engine can be
// used as a library (doc.go says why it is one).

// Playbook is a checked playbook: ParsePlaybook or LoadPlaybook. Its
// Resolve method turns --set style "name=value" pairs into Params, and
// CompileProtect turns --protect rules into Options.Protect.
type Playbook = playbook.Playbook

// Values are a run's parameter values (Playbook.Resolve).
type Values = playbook.Values

// Expr is a compiled expression: a protection rule (Options.Protect).
type Expr = playbook.Expr

// Event is one line of a transcript, as Options.Show sees it.
type Event = transcript.Event

// TranscriptWriter records a run's events, hash-chained
// (Options.Transcript): NewTranscript or CreateTranscript.
type TranscriptWriter = transcript.Writer

// Server describes the connection a run uses, for run_started
// (Options.Server).
type Server = transcript.Server

// Operator is who runs the run (Options.Operator).
type Operator = transcript.Operator

// Provenance is where the playbook came from (Options.Provenance).
type Provenance = transcript.Provenance

// Snapshot is what Database.Snapshot reads: the sessions of
// pg_stat_activity at one instant. Its Derive method fills the fields
// derived from the rows (runtimes, blocking counts, root blockers).
type Snapshot = activity.Snapshot

// Session is one row of pg_stat_activity with its derived fields.
type Session = activity.Session

// ServerFacts are the server facts a snapshot was read with
// (Snapshot.Server, Question.Server).
type ServerFacts = activity.Server

// Horizon is what pins the xmin horizon besides sessions
// (Database.Horizon).
type Horizon = activity.Horizon

// Identity is what makes a session the same one: pid, backend_start and,
// for some signals, query_start or xact_start.
type Identity = activity.Identity

// Function is the signal a step sends: Cancel or Terminate.
type Function = activity.Function

// The signals.
const (
	Cancel    = activity.Cancel
	Terminate = activity.Terminate
)

// SignalTarget is a session Database.Signal is to signal, with the
// identity it must still have.
type SignalTarget = activity.SignalTarget

// SignalResult is Database.Signal's outcome for one target.
type SignalResult = activity.SignalResult

// SignalOutcome is what became of one signal.
type SignalOutcome = activity.Outcome

// The outcomes of a signal.
const (
	Signalled     = activity.Signalled
	SignalChanged = activity.Changed
	NotFound      = activity.NotFound
	Denied        = activity.Denied
	SignalError   = activity.Error
)

// ParsePlaybook parses and checks a playbook's YAML; name is how errors
// name the file.
func ParsePlaybook(name string, data []byte) (*Playbook, error) {
	return playbook.Parse(name, data)
}

// LoadPlaybook reads, parses and checks the playbook at path.
func LoadPlaybook(path string) (*Playbook, error) {
	return playbook.Load(path)
}

// NewTranscript returns a transcript that writes its events to w, in
// memory or to a stream: nothing is synced or closed.
func NewTranscript(w io.Writer) *TranscriptWriter {
	return transcript.NewWriter(w)
}

// CreateTranscript creates a transcript file at path (mode 0600), synced
// after every event; it refuses to overwrite a file. Close it after the
// run.
func CreateTranscript(path string) (*TranscriptWriter, error) {
	return transcript.Create(path)
}
