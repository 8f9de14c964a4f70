// Package playbooktest runs playbook tests: YAML files named
// NAME.test.yaml, next to the playbook NAME.yaml, whose cases each give a
// fixture of pg_stat_activity (or a recorded transcript), parameters and
// a mode, and expect the target sets of named steps, the actions
// (function and pid), the prompts shown, the steps skipped and the final
// outcome.
//
// Each case runs the real engine on the offline source of package
// fixture, so filters, protections, limits and conditions behave as in a
// live run. `pgrunbook test` is the front end; the output is modelled on
// `go test`: ok or FAIL per case, and for a failure a diff of what was
// expected (-) against what happened (+).
package playbooktest
