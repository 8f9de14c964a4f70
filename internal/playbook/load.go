package playbook

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"

	"github.com/pgrunbook/pgrunbook/internal/position"
	"github.com/pgrunbook/pgrunbook/internal/strictyaml"
)

// MaxFileSize is the largest playbook file Load reads: 4 MiB. The
// built-in playbooks are under 8 KiB each; a playbook is a procedure
// written by hand, so a file of megabytes is not one (it is a log, a dump
// or a mistyped path), and refusing it up front keeps validate from
// spending seconds and a gigabyte on a YAML tree. It is not adjustable.
const MaxFileSize = 4 << 20

// Load reads and checks the playbook file at path. A file larger than
// MaxFileSize is refused without being read whole, as a one-problem
// position.List.
func Load(path string) (*Playbook, error) {
	data, err := strictyaml.ReadFile(path, MaxFileSize, "a playbook")
	var pe *position.Error
	if errors.As(err, &pe) {
		return nil, position.List{pe}
	}
	if err != nil {
		return nil, err
	}
	return Parse(path, data)
}

// Parse checks a playbook's source. name is used in error messages and as
// the playbook's Path. The error, if any, is a position.List with every
// problem found.
func Parse(name string, data []byte) (*Playbook, error) {
	d := &decoder{errorCollector: errorCollector{src: position.NewSource(name, data)}}
	root, err := strictyaml.Parse(name, data)
	if err != nil {
		return nil, position.List{d.src.Locate(err)}
	}
	pb := d.playbook(root)
	d.check(pb)
	if err := d.result(); err != nil {
		return nil, err
	}
	sum := sha256.Sum256(data)
	pb.Path, pb.Source, pb.SHA256 = name, data, hex.EncodeToString(sum[:])
	return pb, nil
}

// CompileProtect compiles run-level protection rules (--protect) against
// the playbook's row environment. Each error names the rule and column.
func (p *Playbook) CompileProtect(sources []string) ([]*Expr, error) {
	env := compileEnv{params: p.ParamsValue(nil), sets: map[string]any{}}
	var out []*Expr
	var errs []string
	for _, src := range sources {
		prog, msg, _, col := compile(src, env.env(scopeRow), true)
		if prog == nil {
			errs = append(errs, fmt.Sprintf("--protect %q: column %d: %s", src, col+1, msg))
			continue
		}
		out = append(out, &Expr{Source: src, Program: prog})
	}
	if len(errs) > 0 {
		return nil, errors.New(strings.Join(errs, "\n"))
	}
	return out, nil
}
