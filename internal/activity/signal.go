package activity

import "time"

// Function is a PostgreSQL signalling function, by its SQL name.
type Function string

// The two functions pgrunbook signals sessions with.
const (
	// Cancel stops the statement a session is running; the session stays.
	Cancel Function = "pg_cancel_backend"
	// Terminate ends the session: its transaction is rolled back, its
	// locks released and its client disconnected.
	Terminate Function = "pg_terminate_backend"
)

// Verb is the function's action as playbooks and prompts name it:
// "cancel" or "terminate".
func (f Function) Verb() string {
	if f == Terminate {
		return "terminate"
	}
	return "cancel"
}

// Outcome is what happened to one target of a cancel or terminate.
type Outcome string

// Outcomes of a signal, as recorded in transcripts.
const (
	// Signalled: the identity matched and the function returned true. It
	// only means the signal was sent; a verify decides whether it worked.
	Signalled Outcome = "signalled"
	// NotFound: the session had ended before it could be signalled.
	NotFound Outcome = "not_found"
	// Changed: the pid is now a different session, or (for a cancel) the
	// session runs a different statement; it was not signalled.
	Changed Outcome = "changed"
	// Denied: the server refused the signal (SQLSTATE 42501).
	Denied Outcome = "denied"
	// Error: the outcome is unknown because of another error.
	Error Outcome = "error"
	// DryRun: a dry run recorded the signal instead of sending it.
	DryRun Outcome = "dry_run"
)

// SignalTarget is a session to signal, with the identity it must still
// have when the signal is sent.
type SignalTarget struct {
	Identity
	// BackendType is the session's backend_type as the snapshot showed
	// it. A process keeps its type for life, so while the identity holds
	// it is the type still: the signalling statement signals only a type
	// it is allowed to, and an empty one never.
	BackendType string
	// CheckQuery makes the running statement part of the identity: the
	// signal is sent only if query_start is unchanged (used for cancel).
	CheckQuery bool
	// CheckXact makes the open transaction part of the identity: the
	// signal is sent only if xact_start is unchanged (used for terminate
	// of a session seen in a transaction: if that transaction has ended,
	// the reason to end the session went with it).
	CheckXact bool
	// WaitFor, for a terminate on PostgreSQL 14 and later, makes the
	// signalling statement wait up to this long for the backend to exit
	// (pg_terminate_backend(pid, timeout)); 0 does not wait. Older
	// servers ignore it and the verify that follows does the waiting.
	WaitFor time.Duration
}

// SignalResult is the outcome for one target.
type SignalResult struct {
	PID     int
	Outcome Outcome
	// Message explains a denied or error outcome (the server's message).
	Message string
}
