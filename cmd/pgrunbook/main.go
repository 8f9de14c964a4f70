// Command pgrunbook runs PostgreSQL incident runbooks written as YAML
// playbooks. See `pgrunbook --help`.
package main

import (
	"os"

	"github.com/pgrunbook/pgrunbook/internal/cli"
)

// main runs the command line (see cli.Process for how signals end a run).
func main() {
	os.Exit(cli.Process())
}
