// Package engine runs a checked playbook against a database: it takes
// snapshots, evaluates filters, asks the operator (or answers for --yes
// and --dry-run), signals sessions through identity-checking statements,
// verifies on fresh snapshots, and records every event in the transcript
// before showing it.
//
// The engine never prints, reads a terminal or exits: its database,
// prompter, transcript and display come in through Options, so tests drive
// it with a real server and scripted answers.
package engine
