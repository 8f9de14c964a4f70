// Package rehearse stages real PostgreSQL incidents in a throwaway sandbox
// cluster, runs playbooks against them and scores the outcome. It is the
// library behind `pgrunbook rehearse` (and so behind `make demo`).
//
// A rehearsal starts a private cluster (package sandbox), creates a
// database named rehearsal, initialises pgbench in it and keeps a light
// pgbench load running. Into that live database it stages the sessions of
// a Scenario, each a real client connection with its own
// application_name (package incident): culprits (a long report, a
// statement that swallows cancel, a session idle in its transaction
// holding a row lock, a client that stopped reading its results),
// victims (writers queued behind the lock) and bystanders (an idle
// session, a backup's long statement, pgbench's clients).
//
// It then runs the playbooks through Options.RunPlaybook, which the
// command line implements with exactly the engine, prompts and
// transcripts of `pgrunbook run`, and checks the outcome on the live
// server, in pgbench's report and in the transcripts: which culprits were
// stopped and how, whether any victim or bystander was hurt, and how long
// it took from the first snapshot to the last successful verify. The
// Scorecard is printed and appended to every transcript as a note event
// titled "scorecard".
//
// Whatever happens, including a cancelled context (Ctrl-C), every staged
// session, pgbench and the cluster are stopped and the cluster's
// directory removed before Run returns; only transcripts stay. With
// Options.Keep a finished rehearsal leaves the cluster running instead,
// detached from this process, until StopKept removes it.
//
// The package writes only to the io.Writer it is given; it never reads a
// terminal or exits.
package rehearse
