// Package watch holds the pure logic of pgrunbook watch, which runs a
// playbook every interval in one process on one connection: the circuit
// breaker that bounds how many sessions a watch may signal within a
// sliding window, and the round summary that shows only what changed
// since the previous round.
package watch
