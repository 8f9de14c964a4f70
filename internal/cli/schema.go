package cli

import (
	"context"
	"flag"

	"github.com/pgrunbook/pgrunbook/internal/schema"
)

func init() {
	register(command{"schema", "print the JSON Schema of the playbook format", schemaUsage, schemaCommand})
}

const schemaUsage = `Usage: pgrunbook schema

Prints the JSON Schema (draft-07) of the playbook format, generated from the
table the loader reads playbooks by. playbooks/schema.json is a copy; point
an editor's YAML language server at it, e.g. with a first line of

  # yaml-language-server: $schema=https://raw.githubusercontent.com/pgrunbook/pgrunbook/main/playbooks/schema.json

The schema checks keys, types and names; pgrunbook validate checks the rest
(expressions, references between steps). See docs/runbooks-as-code.md.
`

func schemaCommand(_ context.Context, args []string, stdio IO) error {
	fset := flag.NewFlagSet("schema", flag.ContinueOnError)
	pos, err := parseInterleaved(fset, args, schemaUsage, stdio.Out)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return usageErrorf("schema takes no arguments")
	}
	_, err = stdio.Out.Write(schema.JSON())
	return err
}
