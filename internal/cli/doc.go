// Package cli is the pgrunbook command line: it parses arguments, wires a
// database connection, a prompter, a transcript and a renderer into the
// engine, and maps how things ended to exit codes. cmd/pgrunbook only
// calls Process.
//
// Every command is one entry of the command table (commandTable in
// command.go) whose setup function defines its flags once, with
// github.com/spf13/pflag, and returns the function that runs it. Each
// command's --help and the bash, zsh and fish completion scripts
// (completion.go) are generated from those definitions, so they cannot
// drift from what is parsed. pflag rather than cobra: the table, the
// help layout and the completion generator are a few hundred lines that
// keep the help text as it was written and the single-dash long forms
// (-dry-run, -run) Go's flag package accepted; cobra would bring its own
// help and completion conventions and a larger dependency for little more.
//
// Exit codes belong here (exitcode.go): an error that decides the code
// carries it through a Code method, and a run's outcome becomes its
// code through resultError.
package cli
