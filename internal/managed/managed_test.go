package managed

import (
	"slices"
	"strings"
	"testing"
)

func TestDetect(t *testing.T) {
	cases := []struct {
		name               string
		roles, dbs, supers []string
		ownSuper           bool
		want               string
		markers            []string
		wantSupers         []string
	}{
		{name: "self-run", roles: nil, dbs: nil, supers: []string{"postgres"}, want: ""},
		{name: "authenticator alone is PostgREST, not Supabase", roles: []string{"authenticator"}, want: ""},
		{name: "rds", roles: []string{"rds_superuser", "rdsadmin"}, dbs: []string{"rdsadmin"}, supers: []string{"rdsadmin"},
			want: "rds", markers: []string{"role rdsadmin", "role rds_superuser", "database rdsadmin"}, wantSupers: []string{"rdsadmin"}},
		{name: "rds as a superuser records no superuser roles", roles: []string{"rdsadmin"}, supers: []string{"rdsadmin", "me"}, ownSuper: true,
			want: "rds", markers: []string{"role rdsadmin"}},
		{name: "cloud sql", roles: []string{"cloudsqlsuperuser"}, supers: []string{"cloudsqladmin"}, want: "cloudsql",
			markers: []string{"role cloudsqlsuperuser"}, wantSupers: []string{"cloudsqladmin"}},
		{name: "azure", roles: []string{"azure_pg_admin", "azuresu"}, want: "azure", markers: []string{"role azuresu", "role azure_pg_admin"}},
		{name: "supabase", roles: []string{"supabase_admin"}, want: "supabase", markers: []string{"role supabase_admin"}},
		{name: "neon", roles: []string{"neon_superuser"}, want: "neon", markers: []string{"role neon_superuser"}},
		{name: "more markers win", roles: []string{"neon_superuser", "azuresu", "azure_pg_admin"}, want: "azure",
			markers: []string{"role azuresu", "role azure_pg_admin"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := Detect(c.roles, c.dbs, c.supers, c.ownSuper)
			if c.want == "" {
				if p != nil {
					t.Fatalf("detected %+v, want none", p)
				}
				return
			}
			if p == nil || p.ID != c.want {
				t.Fatalf("detected %+v, want %s", p, c.want)
			}
			if !slices.Equal(p.Markers, c.markers) || !slices.Equal(p.SuperuserRoles, c.wantSupers) {
				t.Errorf("markers %v superusers %v, want %v and %v", p.Markers, p.SuperuserRoles, c.markers, c.wantSupers)
			}
		})
	}
}

func TestDeniedReasonNamesTheOperator(t *testing.T) {
	p := Detect([]string{"rdsadmin"}, nil, []string{"rdsadmin"}, false)
	if !p.IsSuperuserRole("rdsadmin") || p.IsSuperuserRole("app") || p.IsSuperuserRole("") {
		t.Errorf("IsSuperuserRole wrong for %+v", p)
	}
	var none *Provider
	if none.IsSuperuserRole("rdsadmin") {
		t.Error("no provider: no provider superuser")
	}
	if r := p.DeniedReason("rdsadmin"); !strings.Contains(r, "only AWS can end this session") || !strings.Contains(r, "rdsadmin") {
		t.Errorf("reason %q", r)
	}
}

func TestServiceRoles(t *testing.T) {
	for _, r := range []string{"cloudsqlagent", "cloudsqlimportexport", "authenticator", "supabase_auth_admin",
		"supabase_storage_admin", "supabase_replication_admin", "rdstopmgr", "neon_service"} {
		if ServiceRoleOwner(r) == "" || !slices.Contains(ServiceRoleNames(), r) {
			t.Errorf("%s is not a service role", r)
		}
	}
	if ServiceRoleOwner("app") != "" || ServiceRoleOwner("rdsadmin") != "" {
		t.Error("app or rdsadmin taken for a service role")
	}
}

func TestReserves(t *testing.T) {
	f := SlotFacts{SuperuserReserved: "3", RDSSuperuserReserved: "2", Reserved: "", RDSSuperuserMember: true}
	got := f.Reserves()
	want := []ReservedSlots{
		{Setting: SuperuserReserved, Slots: 3, For: "superusers"},
		{Setting: RDSSuperuserReserved, Slots: 2, For: "members of rds_superuser", Usable: true},
	}
	if !slices.Equal(got, want) {
		t.Fatalf("Reserves() = %+v, want %+v", got, want)
	}
	if s := ReservesSummary(got); !strings.Contains(s, "may use 2 reserved") || !strings.Contains(s, "not superuser_reserved_connections=3") {
		t.Errorf("summary %q", s)
	}
	f = SlotFacts{SuperuserReserved: "3", Reserved: "4", Superuser: true}
	if s := ReservesSummary(f.Reserves()); !strings.Contains(s, "may use 7 reserved") {
		t.Errorf("superuser summary %q", s)
	}
	f = SlotFacts{SuperuserReserved: "3", Reserved: "0"}
	if s := ReservesSummary(f.Reserves()); !strings.HasPrefix(s, "none of the reserved") {
		t.Errorf("plain role summary %q", s)
	}
	if s := ReservesSummary(nil); !strings.Contains(s, "reserves no") {
		t.Errorf("no reserves summary %q", s)
	}
}
