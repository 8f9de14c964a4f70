package playbook

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"regexp"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// Load reads and checks the playbook file at path.
func Load(path string) (*Playbook, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return Parse(path, data)
}

// Parse checks a playbook's source. name is used in error messages and as
// the playbook's Path. The error, if any, is an ErrorList with every
// problem found.
func Parse(name string, data []byte) (*Playbook, error) {
	d := &decoder{errorCollector: errorCollector{file: name, lines: strings.Split(string(data), "\n")}}
	var root yaml.Node
	if err := yaml.Unmarshal(data, &root); err != nil {
		line, msg := yamlSyntaxError(err)
		d.add(line, 1, "YAML syntax: %s", msg)
		return nil, d.result()
	}
	pb := d.playbook(&root)
	d.check(pb)
	if err := d.result(); err != nil {
		return nil, err
	}
	sum := sha256.Sum256(data)
	pb.Path, pb.Source, pb.SHA256 = name, data, hex.EncodeToString(sum[:])
	return pb, nil
}

var yamlLine = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

// yamlSyntaxError extracts the line from a YAML parser error.
func yamlSyntaxError(err error) (int, string) {
	msg := err.Error()
	var te *yaml.TypeError
	if errors.As(err, &te) && len(te.Errors) > 0 {
		msg = te.Errors[0]
	}
	if m := yamlLine.FindStringSubmatch(msg); m != nil {
		n, _ := strconv.Atoi(m[1])
		detail := m[2]
		if strings.Contains(detail, "did not find expected") {
			// The parser names the line where the block it was reading
			// began; the culprit is usually a misindented line below it.
			detail += " (check the indentation of the lines that follow)"
		}
		return n, detail
	}
	return 1, strings.TrimPrefix(msg, "yaml: ")
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
