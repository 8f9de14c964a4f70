package playbooktest

import (
	"slices"
	"strings"
)

// diffLines is a line diff of want against got, by longest common
// subsequence: "  " for a line in both, "- " for a line only expected,
// "+ " for a line only found. The lists are short; quadratic is fine.
func diffLines(want, got []string) []string {
	n, m := len(want), len(got)
	lcs := make([][]int, n+1)
	for i := range lcs {
		lcs[i] = make([]int, m+1)
	}
	for i := n - 1; i >= 0; i-- {
		for j := m - 1; j >= 0; j-- {
			if want[i] == got[j] {
				lcs[i][j] = lcs[i+1][j+1] + 1
			} else {
				lcs[i][j] = max(lcs[i+1][j], lcs[i][j+1])
			}
		}
	}
	var out []string
	i, j := 0, 0
	for i < n || j < m {
		switch {
		case i < n && j < m && want[i] == got[j]:
			out = append(out, "  "+want[i])
			i, j = i+1, j+1
		case i < n && (j == m || lcs[i+1][j] >= lcs[i][j+1]):
			out = append(out, "- "+want[i])
			i++
		default:
			out = append(out, "+ "+got[j])
			j++
		}
	}
	return out
}

// setNote says which pids a set lacks and which it has in excess.
func setNote(want, got []int) string {
	var missing, extra []int
	for _, p := range want {
		if !slices.Contains(got, p) {
			missing = append(missing, p)
		}
	}
	for _, p := range got {
		if !slices.Contains(want, p) {
			extra = append(extra, p)
		}
	}
	var parts []string
	if len(missing) > 0 {
		parts = append(parts, "missing "+pidsText(missing))
	}
	if len(extra) > 0 {
		parts = append(parts, "unexpected "+pidsText(extra))
	}
	if len(parts) == 0 {
		return ""
	}
	return "(" + strings.Join(parts, ", ") + ")"
}
