//go:build !linux

package pg

import (
	"syscall"
	"time"
)

// setUserTimeout does nothing outside Linux, which alone has
// TCP_USER_TIMEOUT; keepalives and the statement bound still apply.
func setUserTimeout(time.Duration) func(network, address string, rc syscall.RawConn) error {
	return nil
}
