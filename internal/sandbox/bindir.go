package sandbox

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
)

// requiredBinaries are the programs a directory must contain to be accepted
// as a PostgreSQL server binary directory.
var requiredBinaries = []string{"initdb", "postgres"}

// wellKnownBinGlobs are the packaging locations searched as a last resort.
// Several of them are not on PATH by default (Debian's versioned
// directories, Homebrew's keg-only formulae, the PGDG RPM layout).
var wellKnownBinGlobs = []string{
	"/usr/lib/postgresql/*/bin",
	"/usr/pgsql-*/bin",
	"/opt/homebrew/opt/postgresql@*/bin",
	"/usr/local/opt/postgresql@*/bin",
	"/opt/homebrew/opt/postgresql/bin",
	"/usr/local/opt/postgresql/bin",
}

// EnvBinDir names the environment variable that chooses the PostgreSQL
// server binaries when no directory is given: FindBinDir("") uses it
// before searching. The test suite runs against another major version this
// way (make test-matrix).
const EnvBinDir = "PGRUNBOOK_PG_BIN"

// FindBinDir locates a directory holding the PostgreSQL server binaries
// (initdb and postgres).
//
// A non-empty override is used as is and must contain both programs, and
// so must $PGRUNBOOK_PG_BIN when override is empty and the variable is set.
// Otherwise the directory of initdb on PATH is used (after resolving
// symbolic links, so a symlink in /usr/local/bin leads to the real
// installation that also holds pgbench and psql), then the output of
// `pg_config --bindir`, then the highest-versioned well-known installation
// directory such as /usr/lib/postgresql/*/bin.
//
// The error returned when nothing is found explains how to install
// PostgreSQL on common platforms.
func FindBinDir(override string) (string, error) {
	source := "PostgreSQL binary directory"
	if override == "" {
		override = os.Getenv(EnvBinDir)
		source = "PostgreSQL binary directory $" + EnvBinDir
	}
	if override != "" {
		dir, err := filepath.Abs(override)
		if err != nil {
			return "", fmt.Errorf("sandbox: %s %q: %w", source, override, err)
		}
		if err := checkBinDir(dir); err != nil {
			return "", fmt.Errorf("sandbox: %s %q is not usable: %w", source, override, err)
		}
		return dir, nil
	}

	var rejected []string
	consider := func(dir, source string) bool {
		if err := checkBinDir(dir); err != nil {
			rejected = append(rejected, fmt.Sprintf("%s (%s): %v", dir, source, err))
			return false
		}
		return true
	}

	if p, err := exec.LookPath("initdb"); err == nil {
		if resolved, err := filepath.EvalSymlinks(p); err == nil {
			p = resolved
		}
		if abs, err := filepath.Abs(p); err == nil {
			p = abs
		}
		if dir := filepath.Dir(p); consider(dir, "initdb on PATH") {
			return dir, nil
		}
	}

	if out, err := exec.Command("pg_config", "--bindir").Output(); err == nil {
		if dir := strings.TrimSpace(string(out)); dir != "" && consider(dir, "pg_config --bindir") {
			return dir, nil
		}
	}

	for _, dir := range wellKnownBinDirs() {
		if consider(dir, "well-known location") {
			return dir, nil
		}
	}

	return "", notFoundError(rejected)
}

// checkBinDir reports whether dir contains executable initdb and postgres.
func checkBinDir(dir string) error {
	var missing []string
	for _, name := range requiredBinaries {
		if !isProgram(filepath.Join(dir, name)) {
			missing = append(missing, name)
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("missing executable %s", strings.Join(missing, " and "))
	}
	return nil
}

// isProgram reports whether path is an executable regular file (after
// following symbolic links).
func isProgram(path string) bool {
	fi, err := os.Stat(path)
	return err == nil && fi.Mode().IsRegular() && fi.Mode().Perm()&0o111 != 0
}

var versionInPath = regexp.MustCompile(`(\d+(?:\.\d+)?)`)

// wellKnownBinDirs expands wellKnownBinGlobs and orders the matches by the
// version number embedded in the path, highest first. Paths without a
// version sort last.
func wellKnownBinDirs() []string {
	type candidate struct {
		dir     string
		version float64
	}
	var cands []candidate
	seen := map[string]bool{}
	for _, pattern := range wellKnownBinGlobs {
		matches, _ := filepath.Glob(pattern)
		for _, m := range matches {
			if seen[m] {
				continue
			}
			seen[m] = true
			v := -1.0
			// The version lives in the component before "bin".
			if sm := versionInPath.FindAllString(filepath.Dir(m), -1); len(sm) > 0 {
				if f, err := strconv.ParseFloat(sm[len(sm)-1], 64); err == nil {
					v = f
				}
			}
			cands = append(cands, candidate{m, v})
		}
	}
	sort.SliceStable(cands, func(i, j int) bool { return cands[i].version > cands[j].version })
	dirs := make([]string, len(cands))
	for i, c := range cands {
		dirs[i] = c.dir
	}
	return dirs
}

// ErrNoPostgres is wrapped by the error FindBinDir returns when no
// PostgreSQL server installation can be found.
var ErrNoPostgres = errors.New("no PostgreSQL server binaries (initdb, postgres) found")

func notFoundError(rejected []string) error {
	var b strings.Builder
	b.WriteString("looked for initdb on PATH, `pg_config --bindir` and ")
	b.WriteString(strings.Join(wellKnownBinGlobs, ", "))
	b.WriteString("\n")
	for _, r := range rejected {
		b.WriteString("  rejected ")
		b.WriteString(r)
		b.WriteString("\n")
	}
	b.WriteString("Install the PostgreSQL server, for example:\n")
	b.WriteString("  Debian/Ubuntu: apt-get install postgresql\n")
	b.WriteString("  macOS:         brew install postgresql@16\n")
	b.WriteString("  RHEL/Fedora:   dnf install postgresql-server")
	return fmt.Errorf("sandbox: %w\n%s", ErrNoPostgres, b.String())
}
