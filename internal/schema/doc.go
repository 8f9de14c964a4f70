// Package schema generates the JSON Schema of the playbook format from
// playbook.Format, the table the loader reads playbooks by, so the schema
// cannot drift from what `pgrunbook validate` accepts. `pgrunbook schema`
// prints it; playbooks/schema.json is the committed copy that editors'
// YAML language servers point at.
//
// The schema checks structure: keys, types, required keys, enums,
// patterns of names and durations. What it cannot express is left to
// validate: that expressions compile and type-check, that a step refers
// to an earlier step's set, that step ids are unique.
//
// The tests run the schema with santhosh-tekuri/jsonschema (a test-only
// dependency): it must be a valid draft-07 schema, accept every good
// playbook, reject the schema errors of testdata/playbooks/bad, and agree
// with the loader on a list of small playbooks.
package schema
