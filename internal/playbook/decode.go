package playbook

import (
	"fmt"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// decoder turns a YAML document into a Playbook, recording every problem
// instead of stopping at the first.
type decoder struct {
	errorCollector
}

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
		if allowed != nil && !contains(allowed, k.Value) {
			d.at(posOf(k), "unknown key %q in %s%s (known keys: %s)", k.Value, what, suggest(k.Value, allowed), strings.Join(allowed, ", "))
			continue
		}
		out = append(out, field{key: k.Value, kpos: posOf(k), value: v})
	}
	return out
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// suggest returns `; did you mean "x"?` for the closest known word, if any
// is close enough to be a likely typo.
func suggest(word string, known []string) string {
	best, bestDist := "", 3
	for _, k := range known {
		if d := editDistance(word, k); d < bestDist {
			best, bestDist = k, d
		}
	}
	if best == "" {
		return ""
	}
	return fmt.Sprintf(" (did you mean %q?)", best)
}

func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
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

var (
	idPattern   = regexp.MustCompile(IDPattern)
	namePattern = regexp.MustCompile(PlaybookNamePattern)
)

func (d *decoder) playbook(root *yaml.Node) *Playbook {
	pb := &Playbook{}
	if root.Kind == yaml.DocumentNode {
		if len(root.Content) == 0 {
			d.add(1, 1, "the file is empty: a playbook needs at least name and steps")
			return pb
		}
		root = root.Content[0]
	}
	var sawName, sawSteps bool
	top := Format.Playbook
	for _, f := range d.fields(root, "the playbook", top.Names()) {
		switch f.key {
		case "name":
			if v, ok := d.read(top, f); ok {
				s := v.(string)
				sawName = true
				if !namePattern.MatchString(s) {
					d.at(posOf(f.value), "name %q: use lower-case letters, digits, - and _", s)
				}
				pb.Name = s
			}
		case "summary":
			if v, ok := d.read(top, f); ok {
				pb.Summary = v.(string)
			}
		case "guidance":
			if v, ok := d.read(top, f); ok {
				pb.Guidance = v.(string)
			}
		case "params":
			pb.Params = d.params(f.value)
		case "protect":
			if f.value.Kind != yaml.SequenceNode {
				d.at(posOf(f.value), "protect must be a list of expressions, not %s", kindName(f.value))
				continue
			}
			for _, item := range f.value.Content {
				if e := d.expression(item, "protect rule"); e != nil {
					pb.Protect = append(pb.Protect, e)
				}
			}
		case "unprotect":
			pb.Unprotect = d.unprotect(f.value)
		case "steps":
			sawSteps = true
			pb.Steps = d.steps(f.value)
		}
	}
	if root.Kind == yaml.MappingNode {
		if !sawName {
			d.at(posOf(root), "the playbook has no name: add `name: my-playbook`")
		}
		if !sawSteps {
			d.at(posOf(root), "the playbook has no steps: add a `steps:` list")
		}
	}
	return pb
}

func (d *decoder) steps(n *yaml.Node) []*Step {
	if n.Kind != yaml.SequenceNode {
		d.at(posOf(n), "steps must be a list, not %s", kindName(n))
		return nil
	}
	if len(n.Content) == 0 {
		d.at(posOf(n), "steps is empty")
	}
	var out []*Step
	for i, sn := range n.Content {
		if st := d.step(i, sn); st != nil {
			out = append(out, st)
		}
	}
	return out
}

func (d *decoder) step(index int, n *yaml.Node) *Step {
	st := &Step{Index: index, Pos: posOf(n), ID: fmt.Sprintf("step%d", index+1)}
	what := fmt.Sprintf("step %d", index+1)
	var kindField *field
	unknownKind := false
	for _, f := range d.fields(n, what, nil) {
		switch {
		case f.key == "id":
			if s, ok := d.str(f.value, "id"); ok {
				switch {
				case !idPattern.MatchString(s):
					d.at(posOf(f.value), "step id %q: use lower-case letters, digits and _ (ids are names in expressions)", s)
				case isReservedName(s):
					d.at(posOf(f.value), "step id %q is already a name in expressions (a row field, params, rows or a built-in function): choose another", s)
				default:
					st.ID = s
					st.explicitID = true
				}
			}
		case f.key == "title" || f.key == "explain" || f.key == "if":
			v, ok := d.read(Format.Step, f)
			switch {
			case !ok:
			case f.key == "title":
				st.Title = v.(string)
			case f.key == "explain":
				st.Explain = v.(string)
			default:
				st.If = v.(*Expr)
			}
		case contains(StepKinds, f.key):
			if kindField != nil {
				d.at(f.kpos, "%s has two kinds, %s and %s: split it into two steps", what, kindField.key, f.key)
				continue
			}
			f := f
			kindField = &f
		case kindField == nil && !unknownKind && f.value.Kind != yaml.ScalarNode:
			// A mapping under an unknown key is most likely a misspelt kind.
			unknownKind = true
			d.at(f.kpos, "unknown step kind %q%s (kinds: %s)", f.key, suggest(f.key, StepKinds), strings.Join(StepKinds, ", "))
		default:
			known := append(Format.Step.Names(), StepKinds...)
			d.at(f.kpos, "unknown key %q in %s%s (known keys: %s)", f.key, what, suggest(f.key, known), strings.Join(known, ", "))
		}
	}
	if n.Kind != yaml.MappingNode {
		return nil
	}
	if kindField == nil {
		if unknownKind {
			return nil
		}
		d.at(posOf(n), "%s has no kind: give it one of %s", what, strings.Join(StepKinds, ", "))
		return nil
	}
	st.Kind = kindField.key
	what = fmt.Sprintf("%s (%s)", what, st.Kind)
	v := kindField.value
	switch st.Kind {
	case KindActivity:
		st.Activity = d.activity(v, what)
	case KindSummarize:
		st.Summarize = d.summarize(v, what, st.ID)
	case KindHorizon:
		st.Horizon = &HorizonStep{}
		if v.Kind == yaml.MappingNode && len(v.Content) > 0 {
			d.at(posOf(v.Content[0]), "%s takes no keys: write `horizon:` alone", what)
		} else if !isNull(v) {
			d.fields(v, what, Format.Kinds[KindHorizon].Names())
		}
	case KindFilter:
		st.Filter = d.filter(v, what)
	case KindConfirm:
		st.Confirm = d.confirm(v, what)
	case KindCancel, KindTerminate:
		st.Action = d.action(v, st.Kind, what)
	case KindWait:
		st.Wait = d.wait(v, what)
	case KindVerify:
		st.Verify = d.verify(v, what)
	case KindNote:
		st.Note = d.note(v, what)
	}
	return st
}

// sortedKeys returns a map's keys in order, for stable messages.
func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
