// Package transcript writes and reads pgrunbook transcripts: append-only
// JSON Lines files with one event per line, written as things happen, so a
// run killed at any point leaves every earlier event intact and readable,
// and synced to disk at once for what records a signal (the intent before
// the signal is sent, the outcomes, the run's end), within SyncDelay for
// the rest (see Writer).
//
// Each event carries in prev the SHA-256 of the line before it, from
// run_started on, so the lines form a hash chain. One line scanner reads
// a transcript: Read parses the events and checks the chain in the same
// pass (ReadResult.Broken is the first line where the transcript was
// changed after it was written); VerifyChain is the same pass keeping no
// event. The scanner reads within Limits, a bound on one line and on the
// file, so a file that is not a transcript is refused before it costs the
// machine its memory.
package transcript
