package prompt

import (
	"os"

	"golang.org/x/term"
)

// TTY is the controlling terminal, opened afresh for reading answers. Its
// reads can be woken by a deadline, which the inherited stdin's cannot:
// os.File.Fd puts a file into blocking mode, and survey calls Fd to switch
// the terminal to raw mode, so TTY reports the descriptor it captured at
// open time instead.
type TTY struct {
	*os.File
	fd uintptr
}

// Fd returns the terminal's descriptor without changing its mode.
func (t *TTY) Fd() uintptr { return t.fd }

// OpenTTY opens /dev/tty for the prompts. It fails when the process has no
// controlling terminal; callers then read from stdin as it is.
func OpenTTY() (*TTY, error) {
	f, err := os.OpenFile("/dev/tty", os.O_RDWR, 0)
	if err != nil {
		return nil, err
	}
	t := &TTY{File: f}
	rc, err := f.SyscallConn()
	if err == nil {
		err = rc.Control(func(fd uintptr) { t.fd = fd })
	}
	if err != nil || !term.IsTerminal(int(t.fd)) {
		f.Close()
		if err == nil {
			err = os.ErrInvalid
		}
		return nil, err
	}
	return t, nil
}
