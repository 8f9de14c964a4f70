package playbook

import (
	"fmt"
	"reflect"
	"strconv"
	"strings"
	"time"
)

// Parameter types.
const (
	TypeString   = "string"
	TypeInt      = "int"
	TypeBool     = "bool"
	TypeDuration = "duration"
	TypeList     = "list"
)

// ParamTypes lists the parameter types a playbook may declare.
var ParamTypes = []string{TypeString, TypeInt, TypeBool, TypeDuration, TypeList}

// Param is a typed playbook parameter.
type Param struct {
	Name string
	Type string
	Help string
	// Default is the value used when the run does not set one; nil means
	// the parameter is required. Its Go type follows Type: string, int,
	// bool, time.Duration or []string.
	Default any
	Pos     Pos
}

// Parse converts a command-line value to the parameter's type. A list is
// comma-separated; an empty string is the empty list.
func (p *Param) Parse(value string) (any, error) {
	switch p.Type {
	case TypeString:
		return value, nil
	case TypeInt:
		n, err := strconv.Atoi(strings.TrimSpace(value))
		if err != nil {
			return nil, fmt.Errorf("parameter %s is an int: %q is not a whole number", p.Name, value)
		}
		return n, nil
	case TypeBool:
		b, err := strconv.ParseBool(strings.TrimSpace(value))
		if err != nil {
			return nil, fmt.Errorf("parameter %s is a bool: use true or false, not %q", p.Name, value)
		}
		return b, nil
	case TypeDuration:
		d, err := time.ParseDuration(strings.TrimSpace(value))
		if err != nil {
			return nil, fmt.Errorf("parameter %s is a duration: %q is not one (examples: 30s, 5m, 1h30m)", p.Name, value)
		}
		return d, nil
	case TypeList:
		if strings.TrimSpace(value) == "" {
			return []string{}, nil
		}
		parts := strings.Split(value, ",")
		for i := range parts {
			parts[i] = strings.TrimSpace(parts[i])
		}
		return parts, nil
	}
	return nil, fmt.Errorf("parameter %s has unknown type %q", p.Name, p.Type)
}

// FormatValue renders a parameter value the way --set would accept it.
func FormatValue(v any) string {
	switch x := v.(type) {
	case nil:
		return "(required)"
	case []string:
		return strings.Join(x, ",")
	case time.Duration:
		return x.String()
	case string:
		return strconv.Quote(x)
	}
	return fmt.Sprint(v)
}

func zeroOf(typ string) any {
	switch typ {
	case TypeString:
		return ""
	case TypeInt:
		return 0
	case TypeBool:
		return false
	case TypeDuration:
		return time.Duration(0)
	case TypeList:
		return []string{}
	}
	return nil
}

// Values are the parameter values of one run, by name.
type Values map[string]any

// Resolve combines the playbook's defaults with the values set for a run
// (NAME=VALUE strings as given to --set). It fails on an unknown name, a
// value that does not parse, or a required parameter left unset.
func (p *Playbook) Resolve(sets []string) (Values, error) {
	vals := Values{}
	for _, prm := range p.Params {
		if prm.Default != nil {
			vals[prm.Name] = prm.Default
		}
	}
	for _, s := range sets {
		name, value, ok := strings.Cut(s, "=")
		if !ok {
			return nil, fmt.Errorf("--set %q: write NAME=VALUE", s)
		}
		name = strings.TrimSpace(name)
		prm := p.Param(name)
		if prm == nil {
			return nil, fmt.Errorf("--set %s: playbook %s has no parameter %q (it has: %s)", s, p.Name, name, p.paramNames())
		}
		v, err := prm.Parse(value)
		if err != nil {
			return nil, fmt.Errorf("--set %s: %w", s, err)
		}
		vals[name] = v
	}
	for _, prm := range p.Params {
		if _, ok := vals[prm.Name]; !ok {
			return nil, fmt.Errorf("parameter %s (%s) has no default: give it with --set %s=VALUE", prm.Name, prm.Type, prm.Name)
		}
	}
	return vals, nil
}

func (p *Playbook) paramNames() string {
	if len(p.Params) == 0 {
		return "none"
	}
	names := make([]string, len(p.Params))
	for i, prm := range p.Params {
		names[i] = prm.Name
	}
	return strings.Join(names, ", ")
}

// paramsType builds the struct type that `params` has in expressions: one
// field per parameter, named by an expr tag, so that a misspelt parameter
// is a compile error instead of a nil at run time.
func paramsType(params []*Param) reflect.Type {
	fields := make([]reflect.StructField, len(params))
	for i, prm := range params {
		fields[i] = reflect.StructField{
			Name: fmt.Sprintf("P%d", i),
			Type: reflect.TypeOf(zeroOf(prm.Type)),
			Tag:  reflect.StructTag(fmt.Sprintf(`expr:%q json:%q`, prm.Name, prm.Name)),
		}
	}
	return reflect.StructOf(fields)
}

// ParamsValue returns the value `params` has in expressions for the given
// run values.
func (p *Playbook) ParamsValue(vals Values) any {
	v := reflect.New(p.paramsType).Elem()
	for i, prm := range p.Params {
		if x, ok := vals[prm.Name]; ok {
			v.Field(i).Set(reflect.ValueOf(x))
		}
	}
	return v.Interface()
}
