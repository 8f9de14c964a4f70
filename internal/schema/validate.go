package schema

import (
	"fmt"
	"maps"
	"math"
	"reflect"
	"regexp"
	"slices"
	"strings"
)

// Problem is one place where a document does not match a schema.
type Problem struct {
	// Path locates the value: $.steps[2].filter.limit.
	Path    string
	Message string
}

func (p Problem) String() string { return p.Path + ": " + p.Message }

// Validate checks doc (a decoded YAML or JSON value: maps, slices,
// strings, numbers, booleans, nil) against root. It implements the subset
// of draft-07 that Generate uses and panics on any other keyword, so the
// generator cannot use one that goes unchecked.
func Validate(root Object, doc any) []Problem {
	v := &validator{root: root, patterns: map[string]*regexp.Regexp{}}
	return v.check(root, doc, "$")
}

type validator struct {
	root     Object
	patterns map[string]*regexp.Regexp
}

// annotations are keywords that do not constrain.
var annotations = map[string]bool{"$schema": true, "$id": true, "title": true, "description": true, "definitions": true}

func (v *validator) check(s Object, doc any, path string) []Problem {
	doc = normal(doc)
	var out []Problem
	fail := func(format string, args ...any) {
		out = append(out, Problem{Path: path, Message: fmt.Sprintf(format, args...)})
	}
	for _, key := range slices.Sorted(maps.Keys(s)) {
		val := s[key]
		switch key {
		case "$ref":
			out = append(out, v.check(v.resolve(val.(string)), doc, path)...)
		case "type":
			if !hasType(val, doc) {
				fail("is %s, want %v", typeName(doc), val)
			}
		case "enum":
			if !containsValue(val.([]any), doc) {
				fail("is %v, want one of %v", doc, val)
			}
		case "const":
			if !reflect.DeepEqual(normal(val), doc) {
				fail("is %v, want %v", doc, val)
			}
		case "pattern":
			if str, ok := doc.(string); ok && !v.regexp(val.(string)).MatchString(str) {
				fail("%q does not match %s", str, val)
			}
		case "minimum":
			if n, ok := number(doc); ok && n < toFloat(val) {
				fail("%v is less than %v", doc, val)
			}
		case "minItems":
			if list, ok := doc.([]any); ok && len(list) < int(toFloat(val)) {
				fail("has %d items, want at least %v", len(list), val)
			}
		case "items":
			if list, ok := doc.([]any); ok {
				for i, item := range list {
					out = append(out, v.check(val.(Object), item, fmt.Sprintf("%s[%d]", path, i))...)
				}
			}
		case "properties":
			if m, ok := doc.(map[string]any); ok {
				props := val.(Object)
				for _, k := range slices.Sorted(maps.Keys(m)) {
					if ps, ok := props[k]; ok {
						out = append(out, v.check(ps.(Object), m[k], path+"."+k)...)
					}
				}
			}
		case "required":
			if m, ok := doc.(map[string]any); ok {
				for _, k := range val.([]any) {
					if _, ok := m[k.(string)]; !ok {
						fail("lacks required key %q", k)
					}
				}
			}
		case "additionalProperties":
			m, ok := doc.(map[string]any)
			if !ok {
				continue
			}
			props, _ := s["properties"].(Object)
			for _, k := range slices.Sorted(maps.Keys(m)) {
				if _, known := props[k]; known {
					continue
				}
				switch ap := val.(type) {
				case bool:
					if !ap {
						fail("has unknown key %q", k)
					}
				case Object:
					out = append(out, v.check(ap, m[k], path+"."+k)...)
				}
			}
		case "propertyNames":
			if m, ok := doc.(map[string]any); ok {
				for _, k := range slices.Sorted(maps.Keys(m)) {
					out = append(out, v.check(val.(Object), k, path+"."+k+" (name)")...)
				}
			}
		case "allOf":
			for _, sub := range val.([]any) {
				out = append(out, v.check(sub.(Object), doc, path)...)
			}
		case "anyOf":
			if v.matching(val.([]any), doc, path) == 0 {
				fail("matches none of %d alternatives", len(val.([]any)))
			}
		case "oneOf":
			if n := v.matching(val.([]any), doc, path); n != 1 {
				fail("matches %d of %d alternatives, want exactly one", n, len(val.([]any)))
			}
		case "not":
			if len(v.check(val.(Object), doc, path)) == 0 {
				fail("matches what it must not: %v", val)
			}
		case "if":
			cond := len(v.check(val.(Object), doc, path)) == 0
			if then, ok := s["then"].(Object); ok && cond {
				out = append(out, v.check(then, doc, path)...)
			}
			if els, ok := s["else"].(Object); ok && !cond {
				out = append(out, v.check(els, doc, path)...)
			}
		case "then", "else":
			// with if
		default:
			if !annotations[key] {
				panic(fmt.Sprintf("schema: Validate does not support keyword %q", key))
			}
		}
	}
	return out
}

func (v *validator) matching(alternatives []any, doc any, path string) int {
	n := 0
	for _, alt := range alternatives {
		if len(v.check(alt.(Object), doc, path)) == 0 {
			n++
		}
	}
	return n
}

func (v *validator) resolve(ref string) Object {
	name, ok := strings.CutPrefix(ref, "#/definitions/")
	if !ok {
		panic("schema: Validate resolves only #/definitions/ references, not " + ref)
	}
	defs := v.root["definitions"].(Object)
	s, ok := defs[name].(Object)
	if !ok {
		panic("schema: no definition " + name)
	}
	return s
}

func (v *validator) regexp(p string) *regexp.Regexp {
	re, ok := v.patterns[p]
	if !ok {
		re = regexp.MustCompile(p)
		v.patterns[p] = re
	}
	return re
}

// normal turns what YAML and JSON decoders produce into one shape:
// map[string]any, []any, float64 or int as int64, string, bool, nil.
func normal(doc any) any {
	switch x := doc.(type) {
	case map[any]any:
		m := make(map[string]any, len(x))
		for k, val := range x {
			m[fmt.Sprint(k)] = val
		}
		return m
	case Object:
		return map[string]any(x)
	case []string:
		out := make([]any, len(x))
		for i, s := range x {
			out[i] = s
		}
		return out
	case int:
		return int64(x)
	case uint64:
		return int64(x)
	}
	return doc
}

func number(doc any) (float64, bool) {
	switch x := doc.(type) {
	case int64:
		return float64(x), true
	case float64:
		return x, true
	}
	return 0, false
}

func toFloat(v any) float64 {
	n, _ := number(normal(v))
	return n
}

func typeName(doc any) string {
	switch x := doc.(type) {
	case nil:
		return "null"
	case bool:
		return "boolean"
	case string:
		return "string"
	case int64:
		return "integer"
	case float64:
		if x == math.Trunc(x) {
			return "integer"
		}
		return "number"
	case []any:
		return "array"
	case map[string]any:
		return "object"
	}
	return fmt.Sprintf("%T", doc)
}

func hasType(want, doc any) bool {
	got := typeName(doc)
	match := func(t string) bool { return t == got || (t == "number" && got == "integer") }
	switch w := want.(type) {
	case string:
		return match(w)
	case []any:
		for _, t := range w {
			if match(t.(string)) {
				return true
			}
		}
	}
	return false
}

func containsValue(list []any, doc any) bool {
	for _, x := range list {
		if reflect.DeepEqual(normal(x), doc) {
			return true
		}
	}
	return false
}
