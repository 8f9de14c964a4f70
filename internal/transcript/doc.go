// Package transcript writes and reads pgrunbook transcripts: append-only
// JSON Lines files with one event per line, written and synced to disk as
// things happen, so a run killed at any point leaves every earlier event
// intact and readable.
package transcript
