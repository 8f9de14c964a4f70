package arch

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

const module = "github.com/pgrunbook/pgrunbook"

// driverPrefix starts the path of every package of the PostgreSQL driver
// (pgx, pgconn, pgproto3, pgtype, ...), whatever its major version.
const driverPrefix = "github.com/jackc/pgx"

// mayTalkToPostgres are the trees allowed to import the driver: the door
// itself (with pgsession and pgtest) and the benchmark, which opens raw
// protocol connections on purpose.
var mayTalkToPostgres = []string{
	module + "/internal/pg",
	module + "/internal/bench",
}

// listedPackage is the part of `go list -json` the checks read.
type listedPackage struct {
	ImportPath string
	// Imports are the non-test imports.
	Imports []string
}

// under reports whether path is tree or one of its subpackages.
func under(path, tree string) bool {
	return path == tree || strings.HasPrefix(path, tree+"/")
}

// driverImports returns "package imports driver-package" for every
// non-test import of the driver from outside the allowed trees.
func driverImports(pkgs []listedPackage) []string {
	var bad []string
	for _, p := range pkgs {
		if slices.ContainsFunc(mayTalkToPostgres, func(tree string) bool { return under(p.ImportPath, tree) }) {
			continue
		}
		for _, imp := range p.Imports {
			if strings.HasPrefix(imp, driverPrefix) {
				bad = append(bad, p.ImportPath+" imports "+imp)
			}
		}
	}
	return bad
}

// moduleRoot walks up from the working directory to go.mod.
func moduleRoot(t *testing.T) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("no go.mod above the test's directory")
		}
		dir = parent
	}
}

// listPackages runs `go list -json ./...` at the module root.
func listPackages(t *testing.T) []listedPackage {
	t.Helper()
	cmd := exec.Command("go", "list", "-json", "./...")
	cmd.Dir = moduleRoot(t)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, stderr.String())
	}
	var pkgs []listedPackage
	dec := json.NewDecoder(bytes.NewReader(out))
	for {
		var p listedPackage
		err := dec.Decode(&p)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("decode go list output: %v", err)
		}
		pkgs = append(pkgs, p)
	}
	return pkgs
}

func TestOnlyPgTalksToPostgres(t *testing.T) {
	pkgs := listPackages(t)
	// The graph must be the module's, with the door in it, or the check
	// below proves nothing.
	var sawDoor, sawIncident bool
	for _, p := range pkgs {
		switch p.ImportPath {
		case module + "/internal/pg":
			sawDoor = slices.ContainsFunc(p.Imports, func(imp string) bool { return under(imp, driverPrefix+"/v5") })
		case module + "/internal/incident":
			sawIncident = true
		}
	}
	if !sawDoor || !sawIncident {
		t.Fatalf("go list gave %d packages without internal/pg importing the driver (%v) or internal/incident (%v)", len(pkgs), sawDoor, sawIncident)
	}
	for _, v := range driverImports(pkgs) {
		t.Errorf("%s: only internal/pg (and its subpackages) and internal/bench may talk to PostgreSQL", v)
	}
}

func TestDriverImportsFindsAViolation(t *testing.T) {
	pkgs := []listedPackage{
		{ImportPath: module + "/internal/pg", Imports: []string{"github.com/jackc/pgx/v5"}},
		{ImportPath: module + "/internal/pg/pgsession", Imports: []string{"github.com/jackc/pgx/v5/pgproto3"}},
		{ImportPath: module + "/internal/bench/snapshotcost", Imports: []string{"github.com/jackc/pgx/v5/pgconn"}},
		{ImportPath: module + "/internal/pgx", Imports: []string{"fmt"}},
		{ImportPath: module + "/internal/rehearse", Imports: []string{"errors", "github.com/jackc/pgx/v5/pgconn"}},
		{ImportPath: module + "/internal/pgextra", Imports: []string{"github.com/jackc/pgx/v5"}},
	}
	got := driverImports(pkgs)
	want := []string{
		module + "/internal/rehearse imports github.com/jackc/pgx/v5/pgconn",
		module + "/internal/pgextra imports github.com/jackc/pgx/v5",
	}
	if !slices.Equal(got, want) {
		t.Errorf("driverImports = %q, want %q", got, want)
	}
}
