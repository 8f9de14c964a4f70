// Package pg is pgrunbook's only door to PostgreSQL: connecting the way
// psql does, reading pg_stat_activity snapshots (with pg_locks detail for
// the sessions that wait or block, and the server's facts), and signalling
// sessions in statements that re-check each target's identity.
//
// pgrunbook's statements to the server are sent on one connection in
// autocommit mode (a --pooler console is a second connection, to
// PgBouncer), so each
// snapshot and each verify poll is its own transaction and sees fresh
// activity data (pg_stat_activity is cached per transaction). The session
// is marked application_name=pgrunbook, read-only by default, and bounded
// by statement_timeout and lock_timeout; only application_name is a
// startup parameter, the rest is set after connecting and checked: on a
// direct connection from what set_config returned, through a pooler read
// back in a second transaction (settings.go), so any pooler accepts the
// connection. The first snapshot can travel with the set-up statement
// (prefetch.go). A pooler in between
// is detected, and anything but session pooling refused (pooler.go); a
// PgBouncer admin console maps pooled backends to their clients
// (pooler_console.go, pooler_mark.go). Statements are bounded on the
// client side too, by statement_timeout plus StatementGrace, so that a
// dead network ends a statement as a lost connection instead of hanging
// (link.go). Each statement costs one round trip, its first use included
// (query.go). Nothing from a playbook or a parameter is ever part of SQL
// text: targets travel as array parameters.
//
// Its subpackages are the rest of that door: pgsession opens plain
// sessions of their own, on which internal/incident stages misbehaving
// clients for tests and rehearsals, and pgtest starts a private server for
// a test binary. Outside this tree, test files aside, only internal/bench,
// which opens raw protocol connections on purpose, imports the driver; internal/arch's
// test reads the import graph and fails otherwise.
package pg
