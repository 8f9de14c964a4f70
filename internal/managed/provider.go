package managed

import (
	"slices"
	"strings"
)

// Known is one managed service as pgrunbook recognises it.
type Known struct {
	// ID is the short name recorded in transcripts: rds, cloudsql,
	// azure, supabase, neon.
	ID string
	// Name is the service as the operator knows it.
	Name string
	// Operator is who runs it, the only party that can end its
	// superuser sessions: "AWS", "Google".
	Operator string
	// MarkerRoles and MarkerDatabases give the service away: any one of
	// them present means the server is the provider's. They are the
	// provider's own names, which a self-run server has no reason to
	// carry.
	MarkerRoles     []string
	MarkerDatabases []string
	// ServiceRoles are the provider's roles that are not superusers, so
	// pgrunbook could signal their sessions, and that run the service
	// itself (agents, API servers): the default protection "provider"
	// covers them.
	ServiceRoles []string
}

// Providers are the managed services pgrunbook recognises, in the order
// a tie in detection is broken.
var Providers = []Known{
	{
		ID: "rds", Name: "Amazon RDS / Aurora", Operator: "AWS",
		MarkerRoles:     []string{"rdsadmin", "rds_superuser"},
		MarkerDatabases: []string{"rdsadmin"},
		ServiceRoles:    []string{"rdstopmgr"},
	},
	{
		ID: "cloudsql", Name: "Google Cloud SQL", Operator: "Google",
		MarkerRoles:  []string{"cloudsqladmin", "cloudsqlsuperuser"},
		ServiceRoles: []string{"cloudsqlagent", "cloudsqlimportexport"},
	},
	{
		ID: "azure", Name: "Azure Database for PostgreSQL (flexible server)", Operator: "Microsoft",
		MarkerRoles: []string{"azuresu", "azure_pg_admin"},
	},
	{
		ID: "supabase", Name: "Supabase", Operator: "Supabase",
		// authenticator is also PostgREST's usual role on self-run
		// servers, so it is a service role but not a marker.
		MarkerRoles:  []string{"supabase_admin", "supabase_auth_admin", "supabase_storage_admin"},
		ServiceRoles: []string{"authenticator", "supabase_auth_admin", "supabase_storage_admin", "supabase_replication_admin"},
	},
	{
		ID: "neon", Name: "Neon", Operator: "Neon",
		MarkerRoles:  []string{"cloud_admin", "neon_superuser"},
		ServiceRoles: []string{"neon_service"},
	},
}

// Provider is the managed service a server was recognised as, as
// recorded in run_started.
type Provider struct {
	ID       string `json:"id"`
	Name     string `json:"name"`
	Operator string `json:"operator"`
	// Markers are what gave it away: "role rdsadmin", "database rdsadmin".
	Markers []string `json:"markers"`
	// SuperuserRoles are the server's superuser roles when pgrunbook's
	// own role is not one: their sessions only the operator can end.
	SuperuserRoles []string `json:"superuser_roles,omitempty"`
}

// MarkerRoleNames lists every provider's marker roles, for the catalog
// query.
func MarkerRoleNames() []string {
	var out []string
	for _, p := range Providers {
		out = append(out, p.MarkerRoles...)
	}
	return out
}

// MarkerDatabaseNames lists every provider's marker databases.
func MarkerDatabaseNames() []string {
	var out []string
	for _, p := range Providers {
		out = append(out, p.MarkerDatabases...)
	}
	return out
}

// Detect names the provider whose markers are among the roles and
// databases found (those that exist of MarkerRoleNames and
// MarkerDatabaseNames); nil when there are none. Should markers of two
// providers be present, the one with more wins, then the earlier in
// Providers. superusers are the server's superuser roles; they are
// recorded only when ownSuperuser is false, since only then does the
// provider alone end their sessions.
func Detect(roles, databases, superusers []string, ownSuperuser bool) *Provider {
	var best *Provider
	for _, k := range Providers {
		var markers []string
		for _, r := range k.MarkerRoles {
			if slices.Contains(roles, r) {
				markers = append(markers, "role "+r)
			}
		}
		for _, d := range k.MarkerDatabases {
			if slices.Contains(databases, d) {
				markers = append(markers, "database "+d)
			}
		}
		if len(markers) > 0 && (best == nil || len(markers) > len(best.Markers)) {
			best = &Provider{ID: k.ID, Name: k.Name, Operator: k.Operator, Markers: markers}
		}
	}
	if best != nil && !ownSuperuser && len(superusers) > 0 {
		best.SuperuserRoles = slices.Sorted(slices.Values(superusers))
	}
	return best
}

// IsSuperuserRole reports whether role is one of the provider's
// superuser roles recorded at connect.
func (p *Provider) IsSuperuserRole(role string) bool {
	return p != nil && role != "" && slices.Contains(p.SuperuserRoles, role)
}

// DeniedReason is why a session of one of the provider's superuser roles
// is shown and never signalled.
func (p *Provider) DeniedReason(role string) string {
	return "a superuser session on " + p.Name + " (role " + role + "): only " + p.Operator +
		" can end this session; no customer role is a superuser there, and PostgreSQL lets only a superuser signal one"
}

// Summary says in one line what was recognised and what it means.
func (p *Provider) Summary() string {
	s := p.Name + ", recognised by " + strings.Join(p.Markers, ", ")
	if len(p.SuperuserRoles) > 0 {
		s += "; sessions of its superusers (" + strings.Join(p.SuperuserRoles, ", ") + ") only " + p.Operator +
			" can end: they are shown and never signalled"
	}
	return s
}

// ServiceRoleOwner names the provider whose service role role is, or "".
func ServiceRoleOwner(role string) string {
	for _, p := range Providers {
		if slices.Contains(p.ServiceRoles, role) {
			return p.Name
		}
	}
	return ""
}

// ServiceRoleNames lists every provider's service roles, once each.
func ServiceRoleNames() []string {
	var out []string
	for _, p := range Providers {
		for _, r := range p.ServiceRoles {
			if !slices.Contains(out, r) {
				out = append(out, r)
			}
		}
	}
	return out
}
