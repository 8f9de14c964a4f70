// Command bench measures pgrunbook against the hand-written psql
// equivalent on a throwaway PostgreSQL cluster it starts itself, and
// prints the numbers docs/performance.md quotes. `make bench` runs it after
// the Go benchmarks:
//
//	go run ./internal/bench
//
// One run, all on loopback, bounded in time (a few minutes) and in every
// loop's count:
//
//   - startup: median wall time of `pgrunbook version` and `pgrunbook list`
//     next to the cost of starting /bin/true, the floor of any exec;
//   - reaction times, on the empty server before anything is staged: how
//     soon pg_stat_activity and the victim's client see a statement stop
//     after pg_cancel_backend, and a backend go after pg_terminate_backend
//     (and how long pg_terminate_backend(pid, 5000) takes), for sleeping,
//     CPU-bound, lock-waiting and in-transaction statements, without load
//     and beside pgbench -c 16 (reaction.go);
//   - snapshot cost: median and p95 of pg.Client.Snapshot with 100, 1,000
//     and 2,000 rows in pg_stat_activity;
//   - end to end, at 1,000 idle sessions plus 200 statements running
//     pg_sleep: the psql pair (one psql -c calling pg_cancel_backend for
//     every matching row, then psql polls until none is active) against
//     `pgrunbook run cancel-long-queries --yes`, and the floor command
//     (internal/bench/floor: the same cancels with the safety rules and
//     the transcript writer, without the engine; and below the rules, no
//     rows recorded and no verify), in an order that turns each trial,
//     restaged before every run, with pgrunbook's peak RSS (wait4
//     rusage) and a breakdown of where its time and the floor's go, read
//     from their own transcripts;
//   - stop detection: how long after a statement really ends the engine's
//     verify step notices it, run in-process with a three-step playbook;
//   - server impact: pgbench TPS with 50 clients, alone and beside a
//     back-to-back and a paced `--dry-run` loop of pgrunbook;
//   - peak RSS again with 2,000 sessions;
//   - far link: through a TCP proxy adding 15 ms each way (30 ms RTT), a
//     `--dry-run` of cancel-long-queries against one psql query, logged in
//     by trust and with a SCRAM password (farlink.go).
//
// Flags: -trials and -stop-trials change the number of trials, -bin
// measures a given binary, -cpuprofile FILE profiles ten in-process runs,
// -impact-detail adds three server-impact rounds (the loop with its
// transcripts on tmpfs; the snapshot statement polled every 40 ms, with and
// without pg_blocking_pids), -far-link-only runs the far-link comparison
// alone on a small cluster of its own, -timeout bounds the whole run,
// -only reaction runs the reaction times alone on a sandbox of their own
// (-reaction-scale F multiplies their trial counts), -only watch the
// server impact of a dry-run watch (the back-to-back one in -watch-repeat
// pgbench rounds, 3 by default, pooled) and its peak RSS (make bench runs
// this part after the rest), and -only e2e the
// end-to-end comparison with the psql pair; -only hold stages the
// end-to-end sessions and keeps them, printing the DSN, for probing a
// pgrunbook build by hand (each line on standard input restages the long
// statements; the end of input tears everything down). The snapshot cost
// alone, for comparing two commits, is the snapshotcost command
// (internal/bench/snapshotcost).
//
// Peak RSS is read through the small rusage command (internal/bench/rusage),
// because a child started directly by this big process would report this
// process's peak (see that command's documentation).
//
// The cluster, every session and every child process are torn down on
// exit, on error and on Ctrl-C (a second Ctrl-C exits at once; the
// sandbox's parent-death signal still stops the server).
package main
