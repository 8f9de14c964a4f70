package rehearse

import (
	"slices"
	"strings"
	"testing"

	"github.com/pgrunbook/pgrunbook/internal/playbooktest"
	"github.com/pgrunbook/pgrunbook/playbooks"
)

// incidentLibrary is the library the product promises: one playbook per
// incident of the catalogue (shared/research/incident-catalogue.md).
var incidentLibrary = []string{
	"cancel-long-queries", "cancel-query-storm", "ddl-vs-autovacuum", "reap-dead-clients",
	"release-ddl-lock-queue", "release-xmin-horizon", "shed-connections", "stop-resource-hogs",
	"terminate-idle-in-transaction", "unblock-lock-chain", "unstick-client-write",
}

// TestIncidentLibraryIsComplete: every playbook of the library is built
// in, has at least four test cases one of which is a trap (named so: the
// session an expert would not touch is spared), and is either the
// recommended playbook of a rehearse scenario or listed, with the reason,
// as an incident that cannot be staged.
func TestIncidentLibraryIsComplete(t *testing.T) {
	if got := playbooks.Names(); !slices.Equal(got, incidentLibrary) {
		t.Errorf("built-in playbooks %v, want the library %v", got, incidentLibrary)
	}
	rehearsed := map[string]bool{}
	for _, s := range Scenarios() {
		for _, p := range s.Playbooks {
			rehearsed[p] = true
		}
	}
	unstaged := map[string]string{}
	for _, u := range NotStaged() {
		unstaged[u.Playbook] = u.Reason
	}
	for _, name := range incidentLibrary {
		suite, err := playbooktest.LoadFile("../../playbooks/" + name + ".test.yaml")
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		if len(suite.Cases) < 4 {
			t.Errorf("%s: %d test cases, want at least 4", name, len(suite.Cases))
		}
		trap := slices.IndexFunc(suite.Cases, func(c *playbooktest.Case) bool { return strings.Contains(c.Name, "trap") })
		if trap < 0 {
			t.Errorf("%s: no trap case (a case named \"the trap — ...\" where the session an expert would not touch is spared)", name)
		}
		if !rehearsed[name] && unstaged[name] == "" {
			t.Errorf("%s: no rehearse scenario recommends it, and it is not listed as unstageable with a reason", name)
		}
	}
}
