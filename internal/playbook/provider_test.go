package playbook

import (
	"strings"
	"testing"

	"github.com/pgrunbook/pgrunbook/internal/activity"
)

func TestProviderProtectionMatchesServiceRolesOnly(t *testing.T) {
	var d *DefaultProtection
	for i := range DefaultProtections {
		if DefaultProtections[i].Name == "provider" {
			d = &DefaultProtections[i]
		}
	}
	if d == nil {
		t.Fatal("no default protection named provider")
	}
	for _, role := range []string{"cloudsqlagent", "authenticator", "supabase_auth_admin", "rdstopmgr", "neon_service"} {
		m, ok := d.Match(&activity.Session{Usename: role, BackendType: activity.ClientBackend})
		if !ok || !strings.Contains(m, "usename "+role+", a service role of ") {
			t.Errorf("%s: matched %v %q", role, ok, m)
		}
	}
	for _, role := range []string{"app", "postgres", "rdsadmin", "", "CloudSQLAgent"} {
		if m, ok := d.Match(&activity.Session{Usename: role}); ok {
			t.Errorf("%q protected as %q", role, m)
		}
	}
	pb := &Playbook{Unprotect: []string{"provider"}}
	for _, k := range pb.Defaults() {
		if k.Name == "provider" {
			t.Error("unprotect: [provider] leaves it in force")
		}
	}
}
