//go:build unix

package rehearse

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
)

// Leftovers lists what of the sandbox still exists: the postmaster, its
// process group (every backend), pgbench, any process whose command line
// names the cluster's directory (where /proc shows command lines), the
// directories, or the port. Empty means everything is gone.
func (s SandboxInfo) Leftovers() []string {
	var left []string
	alive := func(pid int) bool {
		err := syscall.Kill(pid, 0)
		return err == nil || errors.Is(err, syscall.EPERM)
	}
	if s.PostmasterPID > 0 {
		if alive(s.PostmasterPID) {
			left = append(left, fmt.Sprintf("postmaster pid %d", s.PostmasterPID))
		}
		if alive(-s.PostmasterPID) {
			left = append(left, fmt.Sprintf("process group %d of the server", s.PostmasterPID))
		}
	}
	if s.PgbenchPID > 0 && alive(s.PgbenchPID) {
		left = append(left, fmt.Sprintf("pgbench pid %d", s.PgbenchPID))
	}
	if s.Dir != "" {
		paths, _ := filepath.Glob("/proc/[0-9]*/cmdline")
		for _, p := range paths {
			b, err := os.ReadFile(p)
			if err == nil && bytes.Contains(b, []byte(s.Dir)) {
				left = append(left, fmt.Sprintf("process %s (%s)", filepath.Base(filepath.Dir(p)), bytes.ReplaceAll(bytes.TrimRight(b, "\x00"), []byte{0}, []byte(" "))))
			}
		}
	}
	for _, dir := range []string{s.Dir, s.SocketDir} {
		if _, err := os.Stat(dir); dir != "" && !errors.Is(err, os.ErrNotExist) {
			left = append(left, "directory "+dir)
		}
	}
	if s.Port > 0 {
		l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(s.Port)))
		if err != nil {
			left = append(left, fmt.Sprintf("port %d (%v)", s.Port, err))
		} else {
			l.Close()
		}
	}
	return left
}
