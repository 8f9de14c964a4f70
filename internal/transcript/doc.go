// Package transcript writes and reads pgrunbook transcripts: append-only
// JSON Lines files with one event per line, written and synced to disk as
// things happen, so a run killed at any point leaves every earlier event
// intact and readable.
//
// Each event carries in prev the SHA-256 of the line before it, from
// run_started on, so the lines form a hash chain: VerifyChain finds the
// first line where a transcript was changed after it was written.
package transcript
