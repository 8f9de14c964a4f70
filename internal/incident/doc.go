// Package incident stages real PostgreSQL problem sessions for tests and
// demonstrations: long-running queries, queries that ignore cancellation,
// sessions idling inside a transaction while holding row locks, writers
// blocked behind them, a pg_dump-like reader holding a table lock with an
// ALTER TABLE and reads queued behind it, a flood of idle sessions that
// fills the connection slots, a snapshot that pins the xmin horizon, a
// query storm that re-issues its statement when cancelled, sessions from
// a second client address, a statement burning CPU, and pgbench load;
// and it reads back what the server shows of them (pg_locks, connection
// slots, xmin holders, CPU time on Linux).
//
// Every staged session is a connection of its own (internal/pg/pgsession:
// outside its tests this package never talks to PostgreSQL directly) with its own
// application_name, so it shows up in pg_stat_activity exactly like a
// misbehaving client would. Constructors return only once the staged state
// is visible in pg_stat_activity from a separate connection, so callers can
// act on it immediately without sleeping.
//
// Background statements run on a context detached from the constructor's
// context: the constructor's ctx bounds only the setup. Always Close
// sessions; Close terminates a backend whose statement is still running so
// nothing lingers on the server.
package incident
