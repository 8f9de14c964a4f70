// Package pg is pgrunbook's only door to PostgreSQL: connecting the way
// psql does, reading pg_stat_activity snapshots (with pg_locks detail for
// the sessions that wait or block, and the server's facts), and signalling
// sessions in statements that re-check each target's identity.
//
// Every statement is sent on one connection in autocommit mode, so each
// snapshot and each verify poll is its own transaction and sees fresh
// activity data (pg_stat_activity is cached per transaction). The session
// is marked application_name=pgrunbook, read-only by default, and bounded
// by statement_timeout and lock_timeout. Nothing from a playbook or a
// parameter is ever part of SQL text: targets travel as array parameters.
package pg
