package cli

import (
	"time"

	"github.com/pgrunbook/pgrunbook/playbooks"
)

// listLine is one line of list --output json: a built-in playbook.
type listLine struct {
	Name    string      `json:"name"`
	Summary string      `json:"summary"`
	Params  []listParam `json:"params"`
}

// listParam is a playbook parameter as list --output json shows it.
type listParam struct {
	Name string `json:"name"`
	Type string `json:"type"`
	// Default is the value in JSON's own type (a duration as its text,
	// e.g. "5m0s"); null when Required.
	Default  any    `json:"default"`
	Required bool   `json:"required"`
	Help     string `json:"help,omitempty"`
}

// listJSON prints every built-in playbook as one JSON line.
func listJSON(stdio IO) error {
	jl := newJSONLines(stdio.Out)
	for _, n := range playbooks.Names() {
		pb, err := builtinPlaybook(n)
		if err != nil {
			return err
		}
		line := listLine{Name: pb.Name, Summary: pb.Summary, Params: []listParam{}}
		for _, p := range pb.Params {
			line.Params = append(line.Params, listParam{
				Name: p.Name, Type: p.Type, Default: jsonDefault(p.Default), Required: p.Default == nil, Help: p.Help,
			})
		}
		if err := jl.line(line); err != nil {
			return failf("writing JSON output: %v", err)
		}
	}
	return nil
}

// jsonDefault is a parameter default as a JSON value: a duration becomes
// its text, the way --set takes it; other types encode as they are.
func jsonDefault(v any) any {
	if d, ok := v.(time.Duration); ok {
		return d.String()
	}
	return v
}
