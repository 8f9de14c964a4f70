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
//
// What it does that a library does not: it uses the PostgreSQL binaries
// already installed (FindBinDir searches PATH and the packaging locations
// of Debian, PGDG RPMs and Homebrew) instead of downloading some, as
// embedded-postgres does, and it needs neither Docker nor a daemon, as
// testcontainers and dockertest do. It starts postgres itself rather than
// through pg_ctl -w, because only a direct child can be put in a process
// group of its own, so that Stop ends every backend at once, and be given
// a parent-death signal on Linux, so that a test binary that crashes or
// times out does not leave a server behind.
//
// cluster.go is the API (Start, DSN, Env, Command, Stop); spawn.go starts,
// waits for and stops the processes; bindir.go and program.go find the
// binaries; proc_*.go hold what differs between platforms.
package sandbox
