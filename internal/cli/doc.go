// Package cli is the pgrunbook command line: it parses arguments, wires a
// database connection, a prompter, a transcript and a renderer into the
// engine, and maps how things ended to exit codes. cmd/pgrunbook only
// calls Main.
package cli
