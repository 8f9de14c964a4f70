package schema

import (
	"bytes"
	"encoding/json"
	"fmt"

	"github.com/pgrunbook/pgrunbook/internal/playbook"
)

// ID is the schema's $id: where the committed copy is published.
const ID = "https://raw.githubusercontent.com/pgrunbook/pgrunbook/main/playbooks/schema.json"

// durationPattern matches what time.ParseDuration accepts, without a sign
// (a negative duration is an error in a playbook).
const durationPattern = `^\+?(0|(([0-9]+(\.[0-9]*)?|\.[0-9]+)(ns|us|µs|μs|ms|s|m|h))+)$`

// Object is a JSON Schema.
type Object = map[string]any

// scalar is any YAML scalar the loader reads as text.
var scalar = []any{"string", "number", "boolean"}

// Generate returns the JSON Schema of the playbook format.
func Generate() Object {
	defs := Object{
		"expression": Object{
			"description": "An expr-lang expression, compiled and type-checked when the playbook loads.",
			"type":        scalar, "pattern": `\S`,
		},
		"duration": Object{
			"description": "A duration with a unit: 30s, 5m, 1h30m.",
			"type":        "string", "pattern": durationPattern,
		},
		"set": Object{
			"description": "A target set: the id of an earlier step, or id.part (check.failed, cancel.signalled).",
			"type":        "string", "pattern": playbook.SetPattern,
		},
		"param": param(),
		"step_id": Object{
			"description": "Names the step and the sets it produces; not a name expressions already use.",
			"type":        "string", "pattern": playbook.IDPattern,
			"not": Object{"enum": anyList(playbook.ReservedNames())},
		},
		"step": step(),
	}
	top := mapping(playbook.Format.Playbook)
	top["$schema"] = "http://json-schema.org/draft-07/schema#"
	top["$id"] = ID
	top["title"] = "pgrunbook playbook"
	top["definitions"] = defs
	return top
}

// JSON returns the schema as indented JSON with a final newline, as
// committed in playbooks/schema.json.
func JSON() []byte {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(Generate()); err != nil {
		panic(err) // the schema is made of maps, slices and strings
	}
	return buf.Bytes()
}

// mapping is the schema of a mapping of the format.
func mapping(m playbook.Mapping) Object {
	props := Object{}
	var required []any
	for _, k := range m.Keys {
		props[k.Name] = value(k)
		if k.Required {
			required = append(required, k.Name)
		}
	}
	o := Object{"type": "object", "properties": props, "additionalProperties": false}
	if m.Doc != "" {
		o["description"] = m.Doc
	}
	if len(required) > 0 {
		o["required"] = required
	}
	if m.Short == "" {
		return o
	}
	short := value(playbook.Key{Type: m.Short})
	return Object{"description": m.Doc, "anyOf": []any{short, o}}
}

// value is the schema of a key's value.
func value(k playbook.Key) Object {
	var o Object
	switch k.Type {
	case playbook.ValueText:
		o = Object{"type": scalar}
		if k.Pattern != "" {
			o = Object{"type": "string", "pattern": k.Pattern}
		}
		if len(k.Enum) > 0 {
			o = Object{"enum": anyList(k.Enum)}
		}
	case playbook.ValueExpression:
		o = ref("expression")
	case playbook.ValueExpressionList:
		o = Object{"type": "array", "items": ref("expression")}
	case playbook.ValueSet:
		o = ref("set")
	case playbook.ValueInt:
		o = Object{"type": "integer"}
		if k.MinSet {
			o["minimum"] = k.Min
		}
	case playbook.ValueBool:
		o = Object{"type": "boolean"}
	case playbook.ValueDuration:
		o = ref("duration")
	case playbook.ValueTextList:
		o = Object{"type": "array", "items": Object{"type": scalar}}
	case playbook.ValueExpectation:
		o = Object{"anyOf": []any{Object{"enum": anyList(k.Enum)}, ref("expression")}}
	case playbook.ValueParams:
		o = Object{"type": "object", "propertyNames": Object{"pattern": playbook.IDPattern}, "additionalProperties": ref("param")}
	case playbook.ValueSteps:
		o = Object{"type": "array", "minItems": 1, "items": ref("step")}
	case playbook.ValueParamDefault:
		o = Object{"not": Object{"type": "null"}}
	case playbook.ValueNothing:
		o = Object{"anyOf": []any{Object{"type": "null"}, Object{"type": "object", "additionalProperties": false}}}
	default:
		panic(fmt.Sprintf("schema: no schema for values of type %s", k.Type))
	}
	if k.Doc != "" {
		// A $ref ignores its siblings in draft-07: wrap it.
		if _, isRef := o["$ref"]; isRef {
			o = Object{"allOf": []any{o}}
		}
		o["description"] = k.Doc
	}
	return o
}

// param is the schema of one parameter: its default has the parameter's
// type.
func param() Object {
	o := mapping(playbook.Format.Param)
	defaults := map[string]Object{
		playbook.TypeString:   {"type": scalar},
		playbook.TypeInt:      {"type": "integer"},
		playbook.TypeBool:     {"type": "boolean"},
		playbook.TypeDuration: ref("duration"),
		playbook.TypeList:     {"type": "array", "items": Object{"type": scalar}},
	}
	var rules []any
	for _, typ := range playbook.ParamTypes {
		rules = append(rules, Object{
			"if":   Object{"properties": Object{"type": Object{"const": typ}}, "required": []any{"type"}},
			"then": Object{"properties": Object{"default": defaults[typ]}},
		})
	}
	o["allOf"] = rules
	return o
}

// step is the schema of a step: one variant per kind, each allowing the
// common keys and exactly its own kind key.
func step() Object {
	var variants []any
	for _, kind := range playbook.StepKinds {
		props := Object{}
		for _, k := range playbook.Format.Step.Keys {
			props[k.Name] = value(k)
		}
		props["id"] = ref("step_id")
		km := mapping(playbook.Format.Kinds[kind])
		if kind == playbook.KindWait {
			km = waitRules(km)
		}
		props[kind] = km
		variants = append(variants, Object{
			"title":                kind,
			"type":                 "object",
			"properties":           props,
			"required":             []any{kind},
			"additionalProperties": false,
		})
	}
	return Object{"description": playbook.Format.Step.Doc, "oneOf": variants}
}

// waitRules adds what a wait's mapping form needs besides its keys: for
// or until, not both, and timeout only with until. The loader checks the
// same (decode.go, wait).
func waitRules(short Object) Object {
	forOnly := Object{"required": []any{"for"}, "not": Object{"anyOf": []any{Object{"required": []any{"until"}}, Object{"required": []any{"timeout"}}}}}
	untilOnly := Object{"required": []any{"until"}, "not": Object{"required": []any{"for"}}}
	variants := short["anyOf"].([]any)
	obj := variants[1].(Object)
	obj["oneOf"] = []any{forOnly, untilOnly}
	return short
}

func ref(name string) Object { return Object{"$ref": "#/definitions/" + name} }

func anyList(list []string) []any {
	out := make([]any, len(list))
	for i, s := range list {
		out[i] = s
	}
	return out
}
