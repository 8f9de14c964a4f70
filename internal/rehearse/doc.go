// Package rehearse stages real PostgreSQL incidents in a throwaway sandbox
// cluster, runs playbooks against them and scores the outcome. It is the
// library behind `pgrunbook rehearse` (and so behind `make demo`).
//
// A rehearsal starts a private cluster (package sandbox, with the server
// settings the scenario needs, e.g. a small max_connections), creates a
// database named rehearsal, initialises pgbench in it and keeps a light
// pgbench load running. Into that live database it stages the sessions of
// a Scenario, each a real client connection with its own
// application_name (package incident): culprits (a long report, a
// statement that swallows cancel, a session idle in its transaction
// holding a row lock, a client that stopped reading its results, an
// ALTER TABLE waiting for its lock behind a backup, a flood of one
// application's idle sessions, a snapshot pinning the xmin horizon, a
// query storm that comes back when cancelled, sessions of a client host
// that is gone, a statement burning a CPU core), victims (writers queued
// behind the row lock, reads queued behind the ALTER) and bystanders (an
// idle session, a pg_dump holding its lock, another application's pool,
// pgbench's clients). Incidents that cannot be staged honestly are listed
// by NotStaged.
//
// It then runs the playbooks through Options.RunPlaybook, which the
// command line implements with exactly the engine, prompts and
// transcripts of `pgrunbook run`, and checks the outcome on the live
// server, in pgbench's report and in the transcripts: which culprits were
// stopped and how, whether any victim or bystander was hurt, what became
// of the incident as a whole (the ALTER's column and the lock queue, the
// free connection slots, what still holds the pinned xmin, whether the
// storm came back and the playbook said so), and how long it took from
// the first snapshot to the last successful verify (transcript.Mitigation,
// the definition pgrunbook report uses too). The Scorecard is printed and
// appended to every transcript as a note event titled "scorecard", through
// a handle the rehearsal opens (transcript.OpenAppend) after RunPlaybook
// closed its own.
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
