package main

import "testing"

// TestShareSpreadsEveryTrial checks that the rounds of a level run
// exactly the trials asked for, spread as evenly as whole trials allow.
func TestShareSpreadsEveryTrial(t *testing.T) {
	for _, n := range []int{0, 1, 7, 10, 15, 200, 1000, 1001} {
		total, lo, hi := 0, n, 0
		for r := 0; r < reactionRounds; r++ {
			s := share(n, r)
			total += s
			lo, hi = min(lo, s), max(hi, s)
		}
		if total != n {
			t.Errorf("share(%d, ·) over %d rounds sums to %d", n, reactionRounds, total)
		}
		if hi-lo > 1 {
			t.Errorf("share(%d, ·) ranges from %d to %d trials per round, want at most one apart", n, lo, hi)
		}
	}
}
