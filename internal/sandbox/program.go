package sandbox

import (
	"os/exec"
	"path/filepath"
	"strings"
)

// ProgramPath returns the path of the PostgreSQL program name (a client
// program such as psql, pgbench or pg_receivewal, or a server program such
// as pg_ctl) to run against the cluster.
//
// The program comes from BinDir when it is there. Some server-only
// distributions ship nothing but initdb, pg_ctl and postgres; then the
// program is taken from the first other installation that has it: the
// well-known installation directories such as /usr/lib/postgresql/*/bin,
// highest version first (a newer client serves older servers), then
// `pg_config --bindir`, then PATH. When no installation has it, the path in
// BinDir is returned, so running it fails with "no such file".
func (c *Cluster) ProgramPath(name string) string {
	return programPath(c.BinDir, name)
}

func programPath(binDir, name string) string {
	own := filepath.Join(binDir, name)
	if isProgram(own) {
		return own
	}
	for _, dir := range wellKnownBinDirs() {
		if p := filepath.Join(dir, name); isProgram(p) {
			return p
		}
	}
	if out, err := exec.Command("pg_config", "--bindir").Output(); err == nil {
		if dir := strings.TrimSpace(string(out)); dir != "" {
			if p := filepath.Join(dir, name); isProgram(p) {
				return p
			}
		}
	}
	if p, err := exec.LookPath(name); err == nil {
		if abs, err := filepath.Abs(p); err == nil {
			return abs
		}
	}
	return own
}
