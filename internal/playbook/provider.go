package playbook

import (
	"slices"

	"github.com/pgrunbook/pgrunbook/internal/activity"
	"github.com/pgrunbook/pgrunbook/internal/managed"
)

// providerProtection covers the service roles of managed PostgreSQL
// services. They are not superusers, so pgrunbook's role may well be
// allowed to signal them, but they run the service itself: Cloud SQL's
// agent and import/export, Supabase's API, Auth, Storage and replica
// roles, RDS's topology manager, Neon's service role. It matches by role
// name whether or not the provider was recognised at connect, so a
// provider whose markers are missing is still covered; a playbook that
// means to end such sessions drops it with unprotect: [provider].
var providerProtection = DefaultProtection{
	Name:  "provider",
	Doc:   "a managed service's own roles (Cloud SQL's agent, Supabase's API and Auth servers, ...): ending one breaks a part of the service the customer does not run",
	Roles: managed.ServiceRoleNames(),
}

// matchRole reports whether the session's role is one of d.Roles, and
// whose it is: "usename cloudsqlagent, a service role of Google Cloud SQL".
func (d *DefaultProtection) matchRole(s *activity.Session) (string, bool) {
	if s.Usename == "" || !slices.Contains(d.Roles, s.Usename) {
		return "", false
	}
	m := "usename " + s.Usename
	if owner := managed.ServiceRoleOwner(s.Usename); owner != "" {
		m += ", a service role of " + owner
	}
	return m, true
}
