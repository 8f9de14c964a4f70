// Package pgtest is the PostgreSQL test harness for pgrunbook packages.
//
// A package whose tests need a database calls Main from TestMain:
//
//	func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }
//
// The first test that needs the server starts a private throwaway
// cluster (see package sandbox) for the test binary, and Main stops it
// afterwards: a run of the package's tests that touches no database
// (go test -run on pure tests, a golden update) starts none. Its server binaries are those of
// PGRUNBOOK_PG_BIN when that is set (make test-matrix points it at each
// major in turn), else the ones sandbox.FindBinDir finds; client programs
// the directory lacks (pgbench, psql) come from another installation
// (sandbox.FindProgram). When the environment variable
// PGRUNBOOK_TEST_DSN is set, tests use that server instead; it must allow
// the connecting role to create and drop databases and to signal other
// backends.
//
// Tests never skip for lack of PostgreSQL: if no server can be found or
// started, the first test that needs one explains why and the test
// binary fails.
package pgtest
