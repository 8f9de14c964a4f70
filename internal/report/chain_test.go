package report

import (
	"bytes"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/pgrunbook/pgrunbook/internal/transcript"
)

// TestReportOfAnEditedTranscript edits one recorded event after the fact:
// the one read of the file gives the events and the break, and the report
// is written from all of them, says the chain is broken where it breaks,
// and gives no head.
func TestReportOfAnEditedTranscript(t *testing.T) {
	data, err := os.ReadFile(filepath.Join(goldenDir, "stubborn-query.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.SplitAfter(string(data), "\n")
	lines[2] = strings.Replace(lines[2], `"seq":3`, `"seq":3,"text":"added later"`, 1)
	edited := strings.Join(lines, "")
	if edited == string(data) {
		t.Fatal("the edit changed nothing")
	}
	rr, err := transcript.Read(strings.NewReader(edited))
	if err != nil {
		t.Fatal(err)
	}
	if rr.Broken == nil || rr.Broken.Line != 4 {
		t.Fatalf("break %v, want one at line 4 (the line after the edited one)", rr.Broken)
	}
	var out bytes.Buffer
	if err := Write(&out, rr, Options{Path: "edited.jsonl"}); err != nil {
		t.Fatal(err)
	}
	report := out.String()
	for _, want := range []string{"- Hash chain: **broken**: line 4: prev is not the hash of line 3", "| Outcome | done (exit 0) |", "- Transcript: `edited.jsonl`, " + strconv.Itoa(len(rr.Events)) + " event(s)."} {
		if !strings.Contains(report, want) {
			t.Errorf("report lacks %q:\n%s", want, report)
		}
	}
	if strings.Contains(report, "intact; head") {
		t.Errorf("an edited transcript's report gives a head:\n%s", report)
	}
}
