// Package report writes a Markdown incident report from a transcript,
// for a postmortem: who ran which playbook with which parameters against
// which server, a timeline, what was seen, every prompt and answer, every
// action and its outcome, what was verified, and the time to mitigate
// (transcript.Mitigation, the definition rehearse uses too). `pgrunbook
// report` is the front end.
//
// The report says only what the transcript records, as transcript.Read
// returns it in one pass: the events, how the file ends, and where the
// hash chain breaks, or its head hash when it holds, so the report pins
// the record it was made from. Query text can be redacted
// (Options.RedactQueries).
//
// report.go holds the header and the record section, sections.go the
// summary and the tables, timeline.go the timeline, table.go the one
// Markdown table helper, text.go the small formatters.
package report
