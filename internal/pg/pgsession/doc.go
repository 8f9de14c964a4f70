// Package pgsession opens plain PostgreSQL sessions of their own: a
// connection with an application_name (and optionally another role or
// another local address), statements run on it as they are, and its
// answers read back. The incident staging library (internal/incident)
// builds its misbehaving clients and its probes on it, so that only
// internal/pg and its subpackages talk to PostgreSQL.
//
// A Session is not pgrunbook's run connection (that is pg.Client, with
// its read-only, bounded session settings and one round trip per
// statement): it is what a client application would open, and it may
// write, lock and hold transactions open. No pgx type is part of its API:
// rows are read through Row, server errors classified by SQLState.
package pgsession
