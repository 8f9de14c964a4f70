package strictyaml

import (
	"errors"
	"fmt"
	"maps"
	"reflect"
	"slices"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/pgrunbook/pgrunbook/internal/position"
)

// Errorf returns a problem at node n. Its File is empty: the caller that
// knows the file places it (position.Source.Locate).
func Errorf(n *yaml.Node, format string, args ...any) *position.Error {
	return &position.Error{Line: n.Line, Column: n.Column, Message: fmt.Sprintf(format, args...)}
}

var unmarshalerType = reflect.TypeFor[yaml.Unmarshaler]()

// Decode checks that every mapping key in n names a field of v's type
// (by its yaml tag), recursively, then decodes n into v. Types that
// implement yaml.Unmarshaler check their own keys. The error, if any, is
// a *position.Error without a file: an unknown key, a value of the wrong
// type, or what an UnmarshalYAML method returned.
func Decode(n *yaml.Node, v any) error {
	if n.Kind == yaml.DocumentNode && len(n.Content) > 0 {
		n = n.Content[0]
	}
	if err := check(n, reflect.TypeOf(v)); err != nil {
		return err
	}
	if err := n.Decode(v); err != nil {
		var pe *position.Error
		if errors.As(err, &pe) {
			return pe
		}
		var te *yaml.TypeError
		if errors.As(err, &te) && len(te.Errors) > 0 {
			line, msg := parserMessage(te.Errors[0])
			if line == 0 {
				line = n.Line
			}
			return &position.Error{Line: line, Column: 1, Message: msg}
		}
		return &position.Error{Line: n.Line, Column: n.Column, Message: err.Error()}
	}
	return nil
}

func check(n *yaml.Node, t reflect.Type) error {
	if n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	if t.Implements(unmarshalerType) || reflect.PointerTo(t).Implements(unmarshalerType) {
		return nil
	}
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch t.Kind() {
	case reflect.Struct:
		if n.Kind != yaml.MappingNode {
			return nil // the decoder reports the type mismatch
		}
		fields := structFields(t)
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			ft, ok := fields[k.Value]
			if !ok {
				names := slices.Sorted(maps.Keys(fields))
				return Errorf(k, "unknown key %q (known keys: %s)", k.Value, strings.Join(names, ", "))
			}
			if err := check(v, ft); err != nil {
				return err
			}
		}
	case reflect.Slice, reflect.Array:
		if n.Kind == yaml.SequenceNode {
			for _, item := range n.Content {
				if err := check(item, t.Elem()); err != nil {
					return err
				}
			}
		}
	case reflect.Map:
		if n.Kind == yaml.MappingNode {
			for i := 1; i < len(n.Content); i += 2 {
				if err := check(n.Content[i], t.Elem()); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

// structFields maps the YAML keys of a struct type to their field types,
// following inlined structs.
func structFields(t reflect.Type) map[string]reflect.Type {
	out := map[string]reflect.Type{}
	for i := range t.NumField() {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		tag := f.Tag.Get("yaml")
		name, opts, _ := strings.Cut(tag, ",")
		if name == "-" {
			continue
		}
		if strings.Contains(opts, "inline") {
			for k, v := range structFields(f.Type) {
				out[k] = v
			}
			continue
		}
		if name == "" {
			name = strings.ToLower(f.Name)
		}
		out[name] = f.Type
	}
	return out
}
