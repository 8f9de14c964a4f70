// Package render turns transcript events into the text an operator reads.
// The live run and `pgrunbook replay` use the same renderer, so a replay
// shows a run exactly as it was seen.
package render
