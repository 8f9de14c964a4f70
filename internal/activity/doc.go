// Package activity defines a session as pgrunbook sees it: one row of
// pg_stat_activity plus the fields derived from it (runtimes, lock
// blocking), and the snapshot that holds the rows read at one instant.
//
// It has no PostgreSQL driver dependency: the pg package fills it, the
// playbook package type-checks expressions against it and the engine
// evaluates them over it.
package activity
