// Package strictyaml is how pgrunbook reads its YAML inputs: it parses a
// document (Parse), turning yaml.v3's syntax errors into positioned
// problems (the one reader of yaml.v3's "line N:" messages), reads files
// with a size bound (ReadFile), and decodes YAML into Go structs the way
// the playbook loader reads playbooks (Decode): a key the struct does not
// declare is an error with its line and column, not silently ignored.
// Test files and fixtures use Decode, so a misspelt expectation fails
// instead of passing vacuously.
//
// yaml.v3 alone does not do this: its KnownFields option applies to
// Decoder.Decode but not to Node.Decode inside an UnmarshalYAML method,
// where test files decode their cases, and its errors carry a line but no
// column. Every error is a *position.Error.
package strictyaml
