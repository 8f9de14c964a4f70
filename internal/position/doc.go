// Package position is pgrunbook's one error type for a problem at a place
// in a source file: a playbook, a playbook test, a fixture. The playbook
// loader, strictyaml, fixtures and playbook tests all build *Error, so the
// command line prints, sorts and encodes every such problem the same way
// (file:line:col: message, the source line with a caret under the column,
// or a JSON object with file, line, column and message).
//
// It is its own package, not part of strictyaml, because not every
// positioned problem is a YAML one: expression errors are mapped to
// positions inside YAML scalars by the playbook checker, and a file too
// large to read has a file but no line. strictyaml builds these errors
// from YAML nodes and parser messages; this package knows nothing of YAML.
package position
