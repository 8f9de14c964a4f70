package render

import (
	"bytes"
	"strings"
	"testing"

	"github.com/mattn/go-runewidth"

	"github.com/pgrunbook/pgrunbook/internal/activity"
)

func TestTextWidthCountsColumns(t *testing.T) {
	for s, want := range map[string]int{
		"abc":     3,
		"報告":      4, // two wide characters
		"e\u0301": 1, // e and a combining acute accent
		"":        0,
	} {
		if got := TextWidth(s); got != want {
			t.Errorf("TextWidth(%q) = %d, want %d", s, got, want)
		}
	}
}

func TestCutAndPadKeepColumns(t *testing.T) {
	got := Cut("報告報告報告", 7)
	if w := TextWidth(got); w > 7 || !strings.HasSuffix(got, "…") {
		t.Errorf("Cut to 7 columns = %q (%d columns), want at most 7 ending in …", got, w)
	}
	if got := pad("報告", 6); got != "報告  " {
		t.Errorf("pad(報告, 6) = %q, want two spaces after four columns", got)
	}
}

func TestFitIsExactlyNColumns(t *testing.T) {
	for _, s := range []string{"", "web", "報告ジョブ", "a-much-longer-application-name", "報告ジョブ報告ジョブ報告ジョブ"} {
		if got := Fit(s, 16); TextWidth(got) != 16 {
			t.Errorf("Fit(%q, 16) = %q, %d columns", s, got, TextWidth(got))
		}
	}
	if got := Fit("web", 6); got != "web   " {
		t.Errorf("Fit(web, 6) = %q", got)
	}
}

// TestSessionTableAlignsWideNames: a row with a CJK application_name
// starts its later columns in the same terminal column as the header.
func TestSessionTableAlignsWideNames(t *testing.T) {
	rows := []activity.Session{
		{PID: 1, Usename: "alice", Datname: "shop", ApplicationName: "報告ジョブ", State: "active", Query: "SELECT 1"},
		{PID: 2, Usename: "bob", Datname: "shop", ApplicationName: "web", State: "active", Query: "SELECT 2"},
	}
	var b bytes.Buffer
	SessionTable(&b, rows, nil, 160, "")
	lines := strings.Split(strings.TrimRight(b.String(), "\n"), "\n")
	if len(lines) < 3 {
		t.Fatalf("want a header and two rows, got:\n%s", b.String())
	}
	col := func(l, at string) int {
		i := strings.Index(l, at)
		if i < 0 {
			t.Fatalf("no %q in %q", at, l)
		}
		return TextWidth(l[:i])
	}
	want := col(lines[0], "STATE")
	for _, l := range lines[1:3] {
		if got := col(l, "active"); got != want {
			t.Errorf("state starts at column %d, the header's at %d:\n%s", got, want, b.String())
		}
	}
}

func TestTextWidthOfPrintableASCIIIsRunewidths(t *testing.T) {
	var all strings.Builder
	for b := byte(0x20); b <= 0x7e; b++ {
		all.WriteByte(b)
	}
	for _, s := range []string{"", "pid", "idle in transaction", "12m03s", all.String(), "a\tb", "x\x7f", "é", "日本"} {
		if got, want := TextWidth(s), runewidth.StringWidth(s); got != want {
			t.Errorf("TextWidth(%q) = %d, runewidth says %d", s, got, want)
		}
	}
}

// TestCutOfPrintableASCIIIsRunewidths holds the fast paths of Cut, of
// TextWidth on what Cut returns and of Fit equal to runewidth, also where "…" is two columns wide (East Asian width, as a
// CJK locale sets it). It changes runewidth's default condition, so it
// does not run in parallel.
func TestCutOfPrintableASCIIIsRunewidths(t *testing.T) {
	defer func(was bool) { runewidth.DefaultCondition.EastAsianWidth = was }(runewidth.DefaultCondition.EastAsianWidth)
	for _, eastAsian := range []bool{false, true} {
		runewidth.DefaultCondition.EastAsianWidth = eastAsian
		for _, s := range []string{"", "a", "idle", "SELECT pg_sleep(120)", strings.Repeat("x", 200)} {
			for n := 1; n <= len(s)+2; n++ {
				got := Cut(s, n)
				if want := runewidth.Truncate(s, n, "…"); got != want {
					t.Errorf("east asian width %v: Cut(%q, %d) = %q, runewidth says %q", eastAsian, s, n, got, want)
				}
				// A cut cell is measured without runewidth too.
				if w, want := TextWidth(got), runewidth.StringWidth(got); w != want {
					t.Errorf("east asian width %v: TextWidth(%q) = %d, runewidth says %d", eastAsian, got, w, want)
				}
				if f, want := Fit(s, n), runewidth.FillRight(runewidth.Truncate(s, n, "…"), n); f != want {
					t.Errorf("east asian width %v: Fit(%q, %d) = %q, runewidth says %q", eastAsian, s, n, f, want)
				}
			}
		}
	}
}
