// Command demo is what `make demo` runs: `pgrunbook rehearse mixed --yes`.
//
// On a machine with the PostgreSQL server binaries and no running server,
// it starts a throwaway cluster, puts pgbench load on it, stages the mixed
// incident (a long report query, a query that swallows cancel, a session
// idle in its transaction with two writers queued behind it, a client
// that stopped reading its results, a protected backup and an idle
// bystander), runs the recommended playbooks unattended, prints the
// scorecard and removes everything again. Arguments are passed on, e.g.
// `go run ./internal/demo --clients 20` or `go run ./internal/demo --keep`.
//
// It is a thin front end: the rehearsal is internal/rehearse, wired to the
// engine, the prompts and the transcripts by internal/cli exactly as
// `pgrunbook rehearse` is. Its exit codes are that command's.
package main
