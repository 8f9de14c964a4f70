// Package clitest holds the command line's non-interactive tests:
// testscript files (internal/cli/testdata/script/*.txtar) that run
// validate, list, explain, schema, test, replay, report, completion and
// the usage errors, and compare what they print with goldens kept in the
// same files. The pgrunbook they run is the test binary itself (testscript
// installs it on PATH under that name and runs cli.Process in it), so they
// need neither PostgreSQL nor a build of the program; `make golden`
// rewrites the goldens with -update.
//
// They live in a package of their own because internal/cli's tests start
// a PostgreSQL server for the whole test binary.
package clitest
