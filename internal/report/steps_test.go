package report

import (
	"context"
	"strings"
	"testing"

	"github.com/pgrunbook/pgrunbook/internal/fixture"
	"github.com/pgrunbook/pgrunbook/internal/playbook"
)

// TestReportShowsSummariesAndHorizon: a summarize step's groups and what
// a horizon step read are in the timeline; redaction hides a query key.
func TestReportShowsSummariesAndHorizon(t *testing.T) {
	pb, err := playbook.Parse("p.yaml", []byte(`name: p
steps:
  - activity:
  - id: storm
    summarize: {by: [query], top: 1}
  - id: holders
    horizon:
`))
	if err != nil {
		t.Fatal(err)
	}
	fx, err := fixture.Parse("f", []byte(`sessions:
  - {pid: 1, state: active, query_start: -1m, query: "SELECT storm"}
  - {pid: 2, state: active, query_start: -1m, query: "SELECT storm"}
  - {pid: 3, state: active, query_start: -1m, query: "SELECT calm"}
horizon:
  prepared: [{gid: g1, xmin_age: 12}]
`))
	if err != nil {
		t.Fatal(err)
	}
	run, err := fixture.RunOffline(context.Background(), fixture.RunOptions{Playbook: pb, Source: fx.NewSource()})
	if err != nil {
		t.Fatal(err)
	}
	out := reportOf(t, run.Transcript, "run.jsonl", false)
	for _, want := range []string{"storm by query: SELECT storm 2 (and 1 more group(s))", `xmin horizon also held by: prepared transaction "g1" (xmin age 12)`} {
		if !strings.Contains(out, want) {
			t.Errorf("report lacks %q:\n%s", want, out)
		}
	}
	if out := reportOf(t, run.Transcript, "run.jsonl", true); strings.Contains(out, "SELECT storm") || !strings.Contains(out, "storm by query: <redacted> 2") {
		t.Errorf("redacted report:\n%s", out)
	}
}
