// Package pgtest is the PostgreSQL test harness for pgrunbook packages.
//
// A package whose tests need a database calls Main from TestMain:
//
//	func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }
//
// Main starts a private throwaway cluster (see package sandbox) for the
// test binary and stops it afterwards. Its server binaries are those of
// PGRUNBOOK_PG_BIN when that is set (make test-matrix points it at each
// major in turn), else the ones sandbox.FindBinDir finds; client programs
// the directory lacks (pgbench, psql) come from another installation
// (sandbox.FindProgram). When the environment variable
// PGRUNBOOK_TEST_DSN is set, tests use that server instead; it must allow
// the connecting role to create and drop databases and to signal other
// backends.
//
// Tests never skip for lack of PostgreSQL: if no server can be found or
// started, Main explains why and the test binary fails.
package pgtest
