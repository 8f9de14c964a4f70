package render

import (
	"bytes"
	"strings"
	"testing"

	"github.com/pgrunbook/pgrunbook/internal/managed"
	"github.com/pgrunbook/pgrunbook/internal/transcript"
)

func TestStartReportNamesProviderAndReservedSlots(t *testing.T) {
	var b bytes.Buffer
	r := &Renderer{W: &b}
	r.Event(transcript.Event{Type: transcript.RunStarted, Playbook: "p", Mode: "yes", Server: &transcript.Server{
		Host: "db.example", Port: 5432, User: "master", Database: "shop", Version: "15.7", BackendPID: 7,
		Provider:      managed.Detect([]string{"rdsadmin", "rds_superuser"}, []string{"rdsadmin"}, []string{"rdsadmin"}, false),
		ReservedSlots: managed.SlotFacts{SuperuserReserved: "3", RDSSuperuserReserved: "2", RDSSuperuserMember: true}.Reserves(),
	}})
	out := b.String()
	for _, want := range []string{
		"provider:   Amazon RDS / Aurora, recognised by role rdsadmin, role rds_superuser, database rdsadmin; sessions of its superusers (rdsadmin) only AWS can end",
		"reserved:   may use 2 reserved connection slot(s) when the others are taken: rds.rds_superuser_reserved_connections=2 (members of rds_superuser); not superuser_reserved_connections=3 (superusers)",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("start report lacks %q:\n%s", want, out)
		}
	}

	b.Reset()
	r.Event(transcript.Event{Type: transcript.RunStarted, Playbook: "p", Mode: "yes", Server: &transcript.Server{Version: "15.7"}})
	if out := b.String(); strings.Contains(out, "provider:") || strings.Contains(out, "reserved:") {
		t.Errorf("a server with no provider or reserves recorded shows them:\n%s", out)
	}
}
