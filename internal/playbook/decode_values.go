package playbook

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// The value readers: each reads one YAML node as a type of the playbook
// format, or records why it cannot and says so with ok false.

func posOf(n *yaml.Node) Pos { return Pos{Line: n.Line, Column: n.Column} }

// isNull reports whether n is an empty value (`activity:`).
func isNull(n *yaml.Node) bool { return n.Kind == yaml.ScalarNode && n.Tag == "!!null" }

// kindName describes a YAML node's kind for error messages.
func kindName(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.AliasNode:
		return "an alias"
	}
	if n.Tag == "!!null" {
		return "nothing"
	}
	return fmt.Sprintf("%q", n.Value)
}

// field is one key: value pair of a mapping.
type field struct {
	key   string
	kpos  Pos
	value *yaml.Node
}

// fields returns the pairs of a mapping node, reporting duplicate keys and
// any key not in allowed (when allowed is non-nil).
func (d *decoder) fields(n *yaml.Node, what string, allowed []string) []field {
	if n.Kind != yaml.MappingNode {
		d.at(posOf(n), "%s must be a mapping of keys to values, not %s", what, kindName(n))
		return nil
	}
	var out []field
	seen := map[string]bool{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if seen[k.Value] {
			d.at(posOf(k), "duplicate key %q in %s", k.Value, what)
			continue
		}
		seen[k.Value] = true
		if allowed != nil && !slices.Contains(allowed, k.Value) {
			d.at(posOf(k), "unknown key %q in %s%s (known keys: %s)", k.Value, what, suggest(k.Value, allowed), strings.Join(allowed, ", "))
			continue
		}
		out = append(out, field{key: k.Value, kpos: posOf(k), value: v})
	}
	return out
}

func hasKey(n *yaml.Node, key string) bool {
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == key {
			return true
		}
	}
	return false
}

func (d *decoder) str(n *yaml.Node, what string) (string, bool) {
	if n.Kind != yaml.ScalarNode || n.Tag == "!!null" {
		d.at(posOf(n), "%s must be text, not %s", what, kindName(n))
		return "", false
	}
	return n.Value, true
}

func (d *decoder) integer(n *yaml.Node, what string) (int, bool) {
	if n.Kind == yaml.ScalarNode && n.Tag == "!!int" {
		if v, err := strconv.Atoi(n.Value); err == nil {
			return v, true
		}
	}
	d.at(posOf(n), "%s must be a whole number, not %s", what, kindName(n))
	return 0, false
}

func (d *decoder) boolean(n *yaml.Node, what string) (bool, bool) {
	if n.Kind == yaml.ScalarNode && n.Tag == "!!bool" {
		var b bool
		if err := n.Decode(&b); err == nil {
			return b, true
		}
	}
	d.at(posOf(n), "%s must be true or false, not %s", what, kindName(n))
	return false, false
}

func (d *decoder) duration(n *yaml.Node, what string) (time.Duration, bool) {
	if n.Kind == yaml.ScalarNode && n.Tag != "!!null" {
		if v, err := time.ParseDuration(n.Value); err == nil {
			if v < 0 {
				d.at(posOf(n), "%s must not be negative", what)
				return 0, false
			}
			return v, true
		}
		if n.Tag == "!!int" || n.Tag == "!!float" {
			d.at(posOf(n), "%s needs a unit: write %ss or %sm, not %s", what, n.Value, n.Value, n.Value)
			return 0, false
		}
	}
	d.at(posOf(n), "%s must be a duration such as 30s, 5m or 1h30m, not %s", what, kindName(n))
	return 0, false
}

func (d *decoder) strList(n *yaml.Node, what string) ([]string, bool) {
	if n.Kind != yaml.SequenceNode {
		d.at(posOf(n), "%s must be a list, not %s", what, kindName(n))
		return nil, false
	}
	out := make([]string, 0, len(n.Content))
	ok := true
	for _, item := range n.Content {
		s, good := d.str(item, what+" item")
		ok = ok && good
		out = append(out, s)
	}
	return out, ok
}

// expression records an expression's source and position; it is compiled
// later, when the names it may use are known.
func (d *decoder) expression(n *yaml.Node, what string) *Expr {
	s, ok := d.str(n, what)
	if !ok {
		return nil
	}
	if strings.TrimSpace(s) == "" {
		d.at(posOf(n), "%s is empty", what)
		return nil
	}
	return &Expr{Source: s, Pos: posOf(n), node: n}
}

// value reads a key's value as Format gives its type. ok is false when
// the value was reported as wrong (or, for an int, is below the key's
// minimum). Keys whose values need more than their type (params, steps,
// protect, a parameter's default, expect) are read by their own code.
func (d *decoder) value(k Key, n *yaml.Node) (v any, ok bool) {
	switch k.Type {
	case ValueText:
		return d.str(n, k.Name)
	case ValueExpression:
		e := d.expression(n, k.Name)
		return e, e != nil
	case ValueSet:
		ref := d.setRef(n, k.Name)
		return ref, ref.Step != ""
	case ValueInt:
		i, ok := d.integer(n, k.Name)
		if ok && k.MinSet && i < k.Min {
			d.at(posOf(n), "%s must be at least %d", k.Name, k.Min)
			return i, false
		}
		return i, ok
	case ValueBool:
		return d.boolean(n, k.Name)
	case ValueDuration:
		return d.duration(n, k.Name)
	case ValueTextList:
		return d.strList(n, k.Name)
	}
	panic(fmt.Sprintf("playbook: key %s has type %s, which value does not read", k.Name, k.Type))
}

// read reads the value of field f of mapping m; the key is known to be
// one of m's, since fields checked it.
func (d *decoder) read(m Mapping, f field) (any, bool) {
	k, _ := m.Key(f.key)
	return d.value(k, f.value)
}

// setRef parses "id" or "id.part".
func (d *decoder) setRef(n *yaml.Node, what string) SetRef {
	s, ok := d.str(n, what)
	if !ok {
		return SetRef{}
	}
	if strings.TrimSpace(s) == "" {
		d.at(posOf(n), "%s is empty: give the id of an earlier step", what)
		return SetRef{}
	}
	step, part, _ := strings.Cut(strings.TrimSpace(s), ".")
	return SetRef{Step: step, Part: part, Pos: posOf(n)}
}

// keys reads mapping n by m: every key must be one of m's, and the value
// of each is read as its key's type (value) and handed to set with its
// field, unless it was reported as wrong. The keys named in own are
// handed to set unread, with v nil: their readers need more than a type.
func (d *decoder) keys(n *yaml.Node, what string, m Mapping, set func(f field, v any), own ...string) {
	for _, f := range d.fields(n, what, m.Names()) {
		if slices.Contains(own, f.key) {
			set(f, nil)
			continue
		}
		if v, ok := d.read(m, f); ok {
			set(f, v)
		}
	}
}
