package pg

import (
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// setUserTimeout returns a dialer Control function that sets
// TCP_USER_TIMEOUT on TCP sockets before they connect: data the server has
// not acknowledged within d makes the kernel close the connection, also
// while keepalive probes go unanswered. Other sockets are left alone.
func setUserTimeout(d time.Duration) func(network, address string, rc syscall.RawConn) error {
	ms := int(d / time.Millisecond)
	return func(network, _ string, rc syscall.RawConn) error {
		if !strings.HasPrefix(network, "tcp") || ms <= 0 {
			return nil
		}
		var serr error
		err := rc.Control(func(fd uintptr) {
			serr = unix.SetsockoptInt(int(fd), unix.IPPROTO_TCP, unix.TCP_USER_TIMEOUT, ms)
		})
		if err != nil {
			return err
		}
		return serr
	}
}
