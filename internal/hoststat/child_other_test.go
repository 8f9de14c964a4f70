//go:build !linux

package hoststat

// runChild has no child role outside Linux.
func runChild() (int, bool) { return 0, false }
