//go:build !unix

package transcript

import "os"

// lockFile does nothing where advisory file locks are not available.
func lockFile(*os.File) error { return nil }
