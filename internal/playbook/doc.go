// Package playbook loads and checks pgrunbook playbooks: YAML files that
// describe an incident procedure as typed parameters, protections and an
// ordered list of steps.
//
// Loading is strict. Unknown keys, values of the wrong type, duplicate step
// ids, references to target sets no earlier step produces, and expressions
// that do not compile or type-check are all reported at once, each as
// file:line:col with the offending line, so a typo fails `validate` in CI
// instead of in the middle of an incident. Every expression is compiled
// here, once, against a typed environment; the engine only runs them.
package playbook
