package playbook

import (
	"fmt"
	"regexp"
	"slices"
	"strings"

	"gopkg.in/yaml.v3"
)

// decoder turns a YAML document into a Playbook, recording every problem
// instead of stopping at the first.
type decoder struct {
	errorCollector
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
		case slices.Contains(StepKinds, f.key):
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
	kindDecoders[st.Kind](d, st, kindField.value, Format.Kinds[st.Kind], what)
	return st
}
