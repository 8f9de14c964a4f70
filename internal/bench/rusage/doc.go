// Command rusage runs a command and reports how long it ran, its peak
// resident set size and its CPU time, for the pgrunbook bench.
//
//	rusage PROGRAM [ARGUMENT]...
//
// The report is one line on file descriptor 3: start time (Unix
// nanoseconds, just before the command was started), wall nanoseconds, peak RSS
// in KiB (wait4's ru_maxrss), CPU nanoseconds (user plus system) and exit
// code. Standard input, output and error are the command's; rusage exits
// with the command's exit code.
//
// Why a separate process: Go starts children with clone(CLONE_VM|
// CLONE_VFORK), so until exec the child shares its parent's memory, and
// Linux folds the high-water RSS of that shared memory into the child's
// ru_maxrss at exec. A child of a big parent (the bench holds thousands of
// connections) would report the parent's peak, not its own. Started from
// this small program, the floor is this program's few MiB, which the bench
// measures and prints next to the results.
package main
