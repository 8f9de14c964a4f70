package sandbox

import (
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
)

// FindProgram returns the path of the PostgreSQL program name (a client
// program such as psql, pgbench or pg_receivewal, or a server program such
// as pg_ctl) to use with the server binaries in binDir.
//
// The program comes from binDir when it is there. Some server-only
// distributions ship nothing but initdb, pg_ctl and postgres; then the
// program is taken from the first other installation that has it: the
// well-known installation directories such as /usr/lib/postgresql/*/bin,
// highest version first (a newer client serves older servers), then
// `pg_config --bindir`, then PATH. The error says where it looked.
func FindProgram(binDir, name string) (string, error) {
	if p := filepath.Join(binDir, name); isProgram(p) {
		return p, nil
	}
	for _, dir := range wellKnownBinDirs() {
		if p := filepath.Join(dir, name); isProgram(p) {
			return p, nil
		}
	}
	if out, err := exec.Command("pg_config", "--bindir").Output(); err == nil {
		if dir := strings.TrimSpace(string(out)); dir != "" {
			if p := filepath.Join(dir, name); isProgram(p) {
				return p, nil
			}
		}
	}
	if p, err := exec.LookPath(name); err == nil {
		if abs, err := filepath.Abs(p); err == nil {
			return abs, nil
		}
	}
	return "", fmt.Errorf("sandbox: %s is neither in %s nor in another PostgreSQL installation (%s, `pg_config --bindir`, PATH)",
		name, binDir, strings.Join(wellKnownBinGlobs, ", "))
}

// ProgramPath returns the path of the PostgreSQL program name to run
// against the cluster, as found by [FindProgram] for BinDir. When no
// installation has it, the path in BinDir is returned, so running it fails
// with "no such file".
func (c *Cluster) ProgramPath(name string) string {
	p, err := FindProgram(c.BinDir, name)
	if err != nil {
		return filepath.Join(c.BinDir, name)
	}
	return p
}
