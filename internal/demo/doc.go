// Command demo rehearses pgrunbook's main job end to end on a throwaway
// PostgreSQL: it is what `make demo` runs.
//
// It starts a sandbox cluster (initdb into a temporary directory, a free
// port on 127.0.0.1), creates a database named demo, initialises pgbench
// in it and keeps a light pgbench load running in the background. Into
// that live database it stages a mixed incident:
//
//   - a long report query (application "reporting");
//   - a query that swallows pg_cancel_backend (application "etl");
//   - a session idle in a transaction holding a row lock
//     (application "forgot-to-commit"), with two writers queued behind
//     it ("checkout-1" and "checkout-2");
//   - an idle bystander ("bystander").
//
// It then runs two of the embedded playbooks unattended, in process,
// through engine.Run exactly as `pgrunbook run --yes` would:
// unblock-lock-chain, then cancel-long-queries. Both render to standard
// output the way the command does and write transcripts into a temporary
// directory that is kept and printed, ready for `pgrunbook replay`.
//
// Both playbooks run with a threshold of 2s (min_wait and min_runtime),
// and only after the staged statements have run that long: pgbench's
// statements and lock waits last milliseconds, so the threshold is what
// keeps the load out of every target set. With 0s a pgbench session
// caught mid-transaction could be chosen, and a pgbench client whose
// statement is cancelled or whose session is terminated aborts.
//
// Finally it checks the outcome on the live server and prints a
// scorecard: the long query cancelled with its session still connected,
// the stubborn query terminated after it ignored its cancel, the idle
// transaction terminated, both writers committed, the bystander and every
// pgbench backend untouched, and no pgbench client aborted. It prints
// "RESOLVED with zero collateral damage" and exits 0 only if all of that
// holds; otherwise it says what failed and exits 1 (130 after Ctrl-C).
//
// Whatever happens, including Ctrl-C, it closes the staged sessions, stops
// pgbench and the server and removes the cluster's directory, leaving
// only the transcripts.
//
// The demo needs the PostgreSQL server binaries (initdb, postgres) and
// pgbench from the same installation, and no running server of its own.
package main
