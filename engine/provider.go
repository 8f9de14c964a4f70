package engine

import "github.com/pgrunbook/pgrunbook/internal/activity"

// providerDenied is why a session is never signalled on a managed
// service, or "": a session of one of the provider's superuser roles
// (rdsadmin, cloudsqladmin, azuresu, supabase_admin, cloud_admin) that
// pgrunbook, not a superuser, would be refused (SQLSTATE 42501). It is
// told at selection, before any confirmation, rather than as a denied
// action: on a managed service no customer role can do better, so it is
// no failure of the run. On a self-run server the signalling statement's
// own prediction still records such a session as denied, a failure the
// operator can answer by running as a superuser.
func (r *runner) providerDenied(s *activity.Session) string {
	p := r.opts.Server.Provider
	if r.opts.Server.Superuser || !p.IsSuperuserRole(s.Usename) {
		return ""
	}
	return p.DeniedReason(s.Usename)
}
