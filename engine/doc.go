// Package engine runs a checked playbook against a database: it takes
// snapshots, evaluates filters, asks the operator (or answers for --yes
// and --dry-run), signals sessions through identity-checking statements,
// verifies on fresh snapshots, and records every event in the transcript
// before showing it.
//
// The engine never prints, reads a terminal or exits: its database,
// prompter, transcript, display and clock come in through Options, so
// tests drive it with a real server and scripted answers, and offline
// runs (pgrunbook test) drive it with a simulated server and a simulated
// clock.
//
// # A public library
//
// engine stays a top-level package, outside internal/, on purpose: it is
// the one API a program embedding pgrunbook (a chat-ops bot, an
// orchestrator with its own approval flow) needs, and the command line is
// only its first user. What Options, Database and Prompter are made of
// lives in internal packages (playbook, transcript, activity), which keep
// the freedom to change together with the engine; types.go names those
// types here as aliases and gives the loaders (ParsePlaybook,
// LoadPlaybook, NewTranscript, CreateTranscript) that make the values a
// run needs, so nothing outside the module has to import an internal
// package. Example shows a whole run against a stand-in Database. A live
// server is reached through a caller's own Database for now: the
// PostgreSQL client (internal/pg) is not exported.
//
// # Pacing
//
// Verify and wait until poll on one schedule (Options.PollInterval, 2ms
// by default, growing by half each poll up to Options.MaxPollInterval,
// 40ms), and reconnect tries again after 100ms doubling to 2s within
// Options.ReconnectFor (30s): one pacer (pace.go) on Options.Clock spaces
// them all.
//
// # Modes
//
// What a mode changes is decided once, in modes.go: a dry run reads
// through a Database wrapper that sends no signal (and, since nothing
// changes, verify and wait check its latest snapshot once), and each mode
// has one answerer for confirmations: the operator's Prompter, "all" for
// --yes, "all" for --dry-run.
package engine
