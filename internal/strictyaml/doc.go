// Package strictyaml decodes YAML into Go structs the way pgrunbook's
// playbook loader reads playbooks: a key the struct does not declare is an
// error with its line and column, not silently ignored. Test files and
// fixtures use it, so a misspelt expectation fails instead of passing
// vacuously.
package strictyaml
