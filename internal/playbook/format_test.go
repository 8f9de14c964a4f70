package playbook

import (
	"fmt"
	"slices"
	"strings"
	"testing"
)

// sample is a valid YAML value for a key of the format, as it would be
// written in a step whose earlier steps are "snap" (activity), "sel"
// (filter) and "chk" (verify).
func sample(k Key) string {
	switch k.Type {
	case ValueText:
		if len(k.Enum) > 0 {
			return k.Enum[0]
		}
		return "some_text"
	case ValueExpression:
		if k.Name == "if" || k.Name == "until" {
			return "len(sel) > 0"
		}
		return `state == "active"`
	case ValueExpressionList:
		return `['usename == "x"']`
	case ValueSet:
		return "sel"
	case ValueInt:
		return fmt.Sprint(max(k.Min, 3))
	case ValueBool:
		return "true"
	case ValueDuration:
		return "5s"
	case ValueTextList:
		switch k.Name {
		case "by":
			return "[application_name, state]"
		case "unprotect":
			return "[backups]"
		}
		return "[autovacuum worker]"
	case ValueExpectation:
		return "gone"
	}
	return ""
}

// companions are the keys a key applies only with, and their values.
var companions = map[string]map[string]string{
	KindWait + ".timeout":           {"until": "len(sel) > 0"},
	KindActivity + ".interval":      {"samples": "3"},
	KindActivity + ".host_interval": {"host_stats": "true"},
}

const prelude = `name: p
steps:
  - id: snap
    activity:
  - id: sel
    filter: {where: 'state == "active"'}
  - id: chk
    verify: {targets: sel, expect: gone}
`

// TestEveryKeyOfTheFormatLoads: each key of each step kind, alone with
// the required ones, is read by the loader. A key added to Format but not
// to the decoder fails here (or panics in value).
func TestEveryKeyOfTheFormatLoads(t *testing.T) {
	for _, kind := range StepKinds {
		m := Format.Kinds[kind]
		for _, k := range m.Keys {
			if kind == KindWait && k.Name == "for" {
				continue // for and until exclude each other; both are tried alone below
			}
			keys := map[string]string{k.Name: sample(k)}
			for _, req := range m.Keys {
				if req.Required {
					keys[req.Name] = sample(req)
				}
			}
			// Keys that apply only with another key get it.
			for key, needs := range companions[kind+"."+k.Name] {
				keys[key] = needs
			}
			var parts []string
			for _, name := range m.Names() {
				if v, ok := keys[name]; ok {
					parts = append(parts, fmt.Sprintf("%s: %s", name, v))
				}
			}
			src := prelude + fmt.Sprintf("  - %s: {%s}\n", kind, strings.Join(parts, ", "))
			if _, err := Parse("p.yaml", []byte(src)); err != nil {
				t.Errorf("%s with %s:\n%s\n%v", kind, k.Name, src, err)
			}
		}
		if m.Short != "" {
			src := prelude + fmt.Sprintf("  - %s: %s\n", kind, sample(Key{Type: m.Short}))
			if m.Short == ValueNothing {
				src = prelude + fmt.Sprintf("  - %s:\n", kind)
			}
			if _, err := Parse("p.yaml", []byte(src)); err != nil {
				t.Errorf("%s short form:\n%s\n%v", kind, src, err)
			}
		}
	}
	for _, k := range Format.Playbook.Keys {
		if k.Type != ValueText && k.Type != ValueTextList && k.Type != ValueExpressionList {
			continue // name, params and steps are in the prelude
		}
		if k.Name == "name" {
			continue
		}
		src := prelude + fmt.Sprintf("%s: %s\n", k.Name, sample(k))
		if _, err := Parse("p.yaml", []byte(src)); err != nil {
			t.Errorf("playbook key %s:\n%v", k.Name, err)
		}
	}
	for _, k := range Format.Step.Keys {
		src := prelude + fmt.Sprintf("  - {%s: %s, note: hi}\n", k.Name, sample(k))
		if _, err := Parse("p.yaml", []byte(src)); err != nil {
			t.Errorf("step key %s:\n%v", k.Name, err)
		}
	}
}

// TestEveryRequiredKeyIsRequired: leaving out a key Format marks required
// fails to load.
func TestEveryRequiredKeyIsRequired(t *testing.T) {
	for _, kind := range StepKinds {
		m := Format.Kinds[kind]
		for _, missing := range m.Keys {
			if !missing.Required {
				continue
			}
			var parts []string
			for _, k := range m.Keys {
				if k.Required && k.Name != missing.Name {
					parts = append(parts, fmt.Sprintf("%s: %s", k.Name, sample(k)))
				}
			}
			src := prelude + fmt.Sprintf("  - %s: {%s}\n", kind, strings.Join(parts, ", "))
			if _, err := Parse("p.yaml", []byte(src)); err == nil || !strings.Contains(err.Error(), missing.Name) {
				t.Errorf("%s without %s: err %v", kind, missing.Name, err)
			}
		}
	}
	for _, src := range []string{"steps: [{activity: }]\n", "name: p\n", "name: p\nparams: {x: {default: 1}}\nsteps: [{activity: }]\n"} {
		if _, err := Parse("p.yaml", []byte(src)); err == nil {
			t.Errorf("%q loads", src)
		}
	}
}

func TestFormatOrderIsStepKinds(t *testing.T) {
	if len(Format.Kinds) != len(StepKinds) {
		t.Fatalf("%d kinds in Format, %d in StepKinds", len(Format.Kinds), len(StepKinds))
	}
	for _, k := range StepKinds {
		if _, ok := Format.Kinds[k]; !ok {
			t.Errorf("Format lacks kind %s", k)
		}
	}
	for _, name := range []string{"params", "rows", "pid", "len", "query_runtime"} {
		if !slices.Contains(ReservedNames(), name) {
			t.Errorf("ReservedNames lacks %s", name)
		}
	}
}

func TestEmptySetReference(t *testing.T) {
	_, err := Parse("p.yaml", []byte(prelude+"  - cancel: {targets: ''}\n"))
	if err == nil || !strings.Contains(err.Error(), "targets is empty") {
		t.Errorf("err %v", err)
	}
}
