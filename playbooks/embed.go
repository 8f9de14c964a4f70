// Package playbooks holds the playbooks shipped with pgrunbook, embedded in
// the binary so that `pgrunbook run NAME` works from any directory.
//
// Next to each playbook NAME.yaml is NAME.test.yaml, its tests, which
// `pgrunbook test playbooks/` runs; schema.json is the JSON Schema of the
// playbook format (`pgrunbook schema`). Neither is a playbook.
package playbooks

import (
	"embed"
	"io/fs"
	"sort"
	"strings"
)

//go:embed *.yaml
var files embed.FS

// testSuffix ends the name of a playbook's test file.
const testSuffix = ".test.yaml"

// Names returns the names of the built-in playbooks, sorted.
func Names() []string {
	entries, _ := fs.ReadDir(files, ".")
	var names []string
	for _, e := range entries {
		if strings.HasSuffix(e.Name(), testSuffix) {
			continue
		}
		if name, ok := strings.CutSuffix(e.Name(), ".yaml"); ok {
			names = append(names, name)
		}
	}
	sort.Strings(names)
	return names
}

// Source returns the YAML source of the built-in playbook with the given
// name, and whether there is one.
func Source(name string) ([]byte, bool) {
	if strings.HasSuffix(name+".yaml", testSuffix) || strings.ContainsAny(name, `/\`) {
		return nil, false
	}
	data, err := files.ReadFile(name + ".yaml")
	return data, err == nil
}
