// Package sandbox starts and stops private, throwaway PostgreSQL clusters.
//
// A cluster lives in a fresh temporary directory: initdb creates the data
// directory, and the postgres server binary runs as a direct child process in
// its own process group, listening on 127.0.0.1 on a free port with trust
// authentication for the "postgres" superuser role. Durability settings are
// switched off because the data is discarded when the cluster stops.
//
// PostgreSQL refuses to run as root. When the current process runs as root,
// initdb, postgres and every command built with [Cluster.Command] run as the
// "postgres" OS user, which must exist, and the cluster directory is owned by
// that user.
//
// The package deliberately has no database driver dependency; callers connect
// with the DSN from [Cluster.DSN] or run client programs such as psql and
// pgbench through [Cluster.Command].
package sandbox
