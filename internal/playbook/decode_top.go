package playbook

import (
	"slices"
	"strings"

	"gopkg.in/yaml.v3"
)

// The decoders of the playbook's own keys besides steps: unprotect and
// params.

// unprotect reads the names of the default protections a playbook does
// without; each must be one of DefaultProtections.
func (d *decoder) unprotect(n *yaml.Node) []string {
	if n.Kind != yaml.SequenceNode {
		d.at(posOf(n), "unprotect must be a list of default protections (%s), not %s", strings.Join(DefaultProtectionNames(), ", "), kindName(n))
		return nil
	}
	var out []string
	names := DefaultProtectionNames()
	for _, item := range n.Content {
		s, ok := d.str(item, "unprotect item")
		if !ok {
			continue
		}
		if !slices.Contains(names, s) {
			d.at(posOf(item), "unprotect: unknown default protection %q%s (defaults: %s)", s, suggest(s, names), strings.Join(names, ", "))
			continue
		}
		if slices.Contains(out, s) {
			d.at(posOf(item), "unprotect: %s is named twice", s)
			continue
		}
		out = append(out, s)
	}
	return out
}

func (d *decoder) params(n *yaml.Node) []*Param {
	var out []*Param
	for _, f := range d.fields(n, "params", nil) {
		if !idPattern.MatchString(f.key) {
			d.at(f.kpos, "parameter name %q: use lower-case letters, digits and _ (it is written params.%s in expressions)", f.key, f.key)
			continue
		}
		prm := &Param{Name: f.key, Pos: f.kpos}
		var def *yaml.Node
		pm := Format.Param
		for _, pf := range d.fields(f.value, "parameter "+f.key, pm.Names()) {
			switch pf.key {
			case "type":
				if v, ok := d.read(pm, pf); ok {
					s := v.(string)
					if k, _ := pm.Key("type"); !slices.Contains(k.Enum, s) {
						d.at(posOf(pf.value), "parameter %s: unknown type %q%s (types: %s)", f.key, s, suggest(s, k.Enum), strings.Join(k.Enum, ", "))
					} else {
						prm.Type = s
					}
				}
			case "help":
				if v, ok := d.read(pm, pf); ok {
					prm.Help = v.(string)
				}
			case "default":
				def = pf.value
			}
		}
		if prm.Type == "" {
			if f.value.Kind == yaml.MappingNode && !hasKey(f.value, "type") {
				d.at(f.kpos, "parameter %s has no type (one of %s)", f.key, strings.Join(ParamTypes, ", "))
			}
			continue
		}
		if def != nil {
			prm.Default = d.paramDefault(prm, def)
		}
		out = append(out, prm)
	}
	return out
}

func (d *decoder) paramDefault(prm *Param, n *yaml.Node) any {
	what := "default of parameter " + prm.Name
	if n.Kind == yaml.ScalarNode && n.Tag == "!!null" {
		d.at(posOf(n), "%s has no value: give one, or remove default to make the parameter required", what)
		return nil
	}
	var v any
	var ok bool
	switch prm.Type {
	case TypeString:
		v, ok = d.str(n, what)
	case TypeInt:
		v, ok = d.integer(n, what)
	case TypeBool:
		v, ok = d.boolean(n, what)
	case TypeDuration:
		v, ok = d.duration(n, what)
	case TypeList:
		v, ok = d.strList(n, what)
	}
	if !ok {
		return nil
	}
	return v
}
