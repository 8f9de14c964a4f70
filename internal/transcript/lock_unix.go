//go:build unix

package transcript

import (
	"os"
	"syscall"
)

// lockFile takes an exclusive advisory lock on a transcript for as long
// as the file stays open, without waiting: the kernel releases it when
// the process ends, however it ends (kill -9 included).
func lockFile(f *os.File) error {
	return syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
}
