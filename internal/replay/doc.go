// Package replay re-runs a playbook's decisions on a recorded run and
// reports how they differ: `pgrunbook replay TRANSCRIPT --against
// PLAYBOOK`.
//
// The playbook runs on the real engine over the transcript's snapshots
// (package fixture): each step that took a snapshot in the recorded run
// gets that snapshot again, and each signal the recorded run sent gets
// the outcome it got then. The run uses the recorded parameters and mode,
// and in an interactive run the operator's recorded answers. Both runs'
// transcripts are then compared step by step: sessions now targeted or
// spared, steps now skipped or run, prompts that changed, actions,
// verify results and the outcome.
package replay
