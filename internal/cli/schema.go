package cli

import (
	"context"

	"github.com/spf13/pflag"

	"github.com/pgrunbook/pgrunbook/internal/schema"
)

func schemaCmd() *command {
	return &command{
		name: "schema", summary: "print the JSON Schema of the playbook format",
		about: `Prints the JSON Schema (draft-07) of the playbook format, generated from the
table the loader reads playbooks by. playbooks/schema.json is a copy; point
an editor's YAML language server at it, e.g. with a first line of

  # yaml-language-server: $schema=https://raw.githubusercontent.com/pgrunbook/pgrunbook/main/playbooks/schema.json

The schema checks keys, types and names; pgrunbook validate checks the rest
(expressions, references between steps). See docs/runbooks-as-code.md.`,
		setup: func(*pflag.FlagSet) runFunc { return schemaCommand },
	}
}

func schemaCommand(_ context.Context, pos []string, stdio IO) error {
	if len(pos) > 0 {
		return usageErrorf("schema takes no arguments")
	}
	_, err := stdio.Out.Write(schema.JSON())
	return err
}
