// Package report writes a Markdown incident report from a transcript,
// for a postmortem: who ran which playbook with which parameters against
// which server, a timeline, what was seen, every prompt and answer, every
// action and its outcome, what was verified, and the time to mitigate.
// `pgrunbook report` is the front end.
//
// The report says only what the transcript records. Query text can be
// redacted (Options.RedactQueries); the transcript's hash chain, when
// checked, is stated with its head hash so the report pins the record it
// was made from.
package report
