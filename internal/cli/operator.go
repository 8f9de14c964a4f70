package cli

import (
	"net"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/pgrunbook/pgrunbook/internal/transcript"
)

// currentOperator describes who runs pgrunbook: name is --operator ("" for
// none); the rest comes from the operating system and the environment.
func currentOperator(name string, stdio IO) *transcript.Operator {
	op := &transcript.Operator{Name: strings.TrimSpace(name)}
	if u, err := user.Current(); err == nil && u.Username != "" {
		op.OSUser = u.Username
	} else {
		op.OSUser = os.Getenv("USER")
	}
	if h, err := os.Hostname(); err == nil {
		op.Host = h
	}
	for _, f := range []*os.File{stdio.In, stdio.OutFile, os.Stderr} {
		if isTerminal(f) {
			op.Terminal = terminalName(f)
			break
		}
	}
	op.SSHClient = sshClient(os.Getenv("SSH_CONNECTION"), os.Getenv("SSH_CLIENT"))
	return op
}

// sshClient is the address the SSH session comes from. SSH_CONNECTION is
// "client-address client-port server-address server-port"; the older
// SSH_CLIENT is "client-address client-port server-port".
func sshClient(connection, client string) string {
	for _, v := range []string{connection, client} {
		f := strings.Fields(v)
		switch {
		case len(f) >= 2:
			return net.JoinHostPort(f[0], f[1])
		case len(f) == 1:
			return f[0]
		}
	}
	return ""
}

// terminalName names the terminal device f is open on ("/dev/pts/3"):
// on Linux from /proc, elsewhere (or failing that) from SSH_TTY, else the
// name the file was opened with.
func terminalName(f *os.File) string {
	if name, err := os.Readlink("/proc/self/fd/" + strconv.Itoa(int(f.Fd()))); err == nil && strings.HasPrefix(name, "/dev/") {
		return name
	}
	if tty := os.Getenv("SSH_TTY"); tty != "" {
		return tty
	}
	return f.Name()
}

// auditOperator says who runs pgrunbook in one line of the server log:
// "alice (root@db1, /dev/pts/3, ssh 203.0.113.5:50022)".
func auditOperator(op *transcript.Operator) string {
	if op == nil {
		return ""
	}
	where := op.OSUser + "@" + op.Host
	parts := []string{where}
	if op.Terminal != "" {
		parts = append(parts, op.Terminal)
	}
	if op.SSHClient != "" {
		parts = append(parts, "ssh "+op.SSHClient)
	}
	if op.Name == "" {
		return strings.Join(parts, ", ")
	}
	return op.Name + " (" + strings.Join(parts, ", ") + ")"
}

// auditRunName names a run in the server log: its transcript's absolute
// path.
func auditRunName(transcriptPath string) string {
	if abs, err := filepath.Abs(transcriptPath); err == nil {
		return abs
	}
	return transcriptPath
}
