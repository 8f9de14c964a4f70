package playbook

import (
	"errors"
	"strings"
	"testing"

	"github.com/pgrunbook/pgrunbook/internal/activity"
)

func TestInNetwork(t *testing.T) {
	pb := mustParse(t, `name: t
params:
  nets: {type: list, default: ["10.1.0.0/16", "192.168.7.9", "localhost"]}
steps:
  - id: a
    activity:
  - id: f
    filter:
      where: in_network(client_addr, params.nets) || in_network(client_addr, "fd00::/8") || in_network(client_addr, ["172.16.0.0/12"])
`)
	where := pb.Steps[1].Filter.Where
	vals, err := pb.Resolve(nil)
	if err != nil {
		t.Fatal(err)
	}
	ev := pb.NewScope(vals).RowEvaluator()
	for addr, want := range map[string]bool{
		"10.1.2.3": true, "10.2.0.1": false, "192.168.7.9": true, "192.168.7.10": false,
		"127.0.0.1": true, // localhost resolves to it
		"fd00::1":   true, "::ffff:10.1.0.5": true, "172.20.1.1": true, "": false, "not an address": false,
	} {
		got, err := ev.Bool(where, &activity.Session{ClientAddr: addr})
		if err != nil || got != want {
			t.Errorf("client_addr %q: got %v, %v; want %v", addr, got, err, want)
		}
	}
}

func TestInNetworkRejectsABadCIDRWhenEvaluated(t *testing.T) {
	pb := mustParse(t, `name: t
steps:
  - id: a
    activity:
  - id: f
    filter:
      where: in_network(client_addr, "10.0.0.0/99")
`)
	_, err := pb.NewScope(nil).RowEvaluator().Bool(pb.Steps[1].Filter.Where, &activity.Session{ClientAddr: "10.0.0.1"})
	if err == nil || !strings.Contains(err.Error(), "not a CIDR network") {
		t.Errorf("got %v, want a CIDR error", err)
	}
}

func TestInNetworkIsTypeChecked(t *testing.T) {
	_, err := Parse("t.yaml", []byte(`name: t
steps:
  - id: a
    activity:
  - filter:
      where: in_network(client_addr, 42)
`))
	if err == nil || !strings.Contains(err.Error(), "t.yaml:6:") {
		t.Errorf("got %v, want a load error at t.yaml:6", err)
	}
}

func TestVersionGatedFacts(t *testing.T) {
	pb := mustParse(t, `name: gated
params:
  query_id: {type: int, default: 0}
steps:
  - id: a
    activity:
  - id: f
    filter:
      where: query_id == params.query_id && lock_wait_runtime > duration("1s")
  - id: g
    if: server.reserved_connections > 0 || any(f, .query_id > 0)
    filter:
      where: "true"
`)
	var facts []string
	for _, r := range pb.Requirements() {
		facts = append(facts, r.Fact)
	}
	if got := strings.Join(facts, " "); got != "lock_wait_runtime query_id server.reserved_connections" {
		t.Fatalf("requirements %q", got)
	}
	if err := pb.CheckServer(160004); err != nil {
		t.Errorf("16 has them all: %v", err)
	}
	if err := pb.CheckServer(0); err != nil {
		t.Errorf("an unknown version is not refused: %v", err)
	}
	err := pb.CheckServer(150008)
	var ue *UnsupportedError
	if !errors.As(err, &ue) || len(ue.Missing) != 1 || ue.Missing[0].Fact != "server.reserved_connections" {
		t.Fatalf("15: got %v", err)
	}
	err = pb.CheckServer(130015)
	if err == nil || !strings.Contains(err.Error(), "query_id (line 9) needs PostgreSQL 14 or later") ||
		!strings.Contains(err.Error(), "PostgreSQL 13") {
		t.Errorf("13: got %v", err)
	}
	plain := mustParse(t, "name: p\nsteps:\n  - activity:\n  - filter:\n      where: params.query_id == 1\nparams:\n  query_id: {type: int, default: 1}\n")
	if len(plain.Requirements()) != 0 {
		t.Errorf("a parameter named query_id is not the fact: %v", plain.Requirements())
	}
}
