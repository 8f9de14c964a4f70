package playbook

import (
	"fmt"
	"slices"
	"strings"

	"github.com/pgrunbook/pgrunbook/internal/activity"
)

// DefaultProtection is a protection every playbook has unless it names
// it under unprotect: sessions of a kind that an incident procedure must
// not end by accident, whatever its filters say.
type DefaultProtection struct {
	// Name is what unprotect calls it.
	Name string
	// Doc says what it protects and why.
	Doc string
	// Applications are application_name prefixes, matched without
	// regard to case: "pg_dump" protects pg_dump and pg_dumpall.
	Applications []string
	// BackendTypes are backend_type prefixes: "logical replication"
	// protects the launcher and every kind of logical replication worker.
	BackendTypes []string // Roles are role names (usename), matched exactly: a managed
	// service's own roles (provider.go).
	Roles []string
}

// DefaultProtections are the protections applied to every playbook,
// shipped or not, before its own protect rules. They are matched on what
// pg_stat_activity shows: application_name (which a client chooses, so
// they protect the well-behaved tools that name themselves) and
// backend_type. Whether a session's role has the REPLICATION attribute
// is not in the snapshot, so it is not used; every replication
// connection is a walsender, which backend_type shows.
var DefaultProtections = []DefaultProtection{
	{
		Name: "backups",
		Doc:  "backup and restore tools: ending one loses hours of work, and the incident is rarely its fault (cancel the DDL queued behind it instead)",
		Applications: []string{
			"pg_dump", "pg_restore", "pg_basebackup", "pgbackrest", "barman",
			"wal-g", "wal-e", "pg_probackup", "pgcopydb",
		},
	},
	{
		Name: "replication",
		Doc:  "walsenders serving standbys, subscriptions and WAL archivers, and logical replication workers: ending one breaks a replica or a subscription",
		Applications: []string{
			"walreceiver", "pg_receivewal", "pg_recvlogical",
		},
		BackendTypes: []string{"walsender", "walreceiver", "logical replication"},
	},
	{
		Name: "monitoring",
		Doc:  "monitoring agents: their queries are short and ending them blinds the people handling the incident",
		Applications: []string{
			"postgres_exporter", "pganalyze", "datadog", "pgwatch", "check_postgres",
			"zabbix", "telegraf", "pmm", "newrelic", "okmeter", "pgmetrics", "nagios", "icinga",
		},
	}, providerProtection, // provider.go
}

// DefaultProtectionNames lists the names of DefaultProtections.
func DefaultProtectionNames() []string {
	names := make([]string, len(DefaultProtections))
	for i, d := range DefaultProtections {
		names[i] = d.Name
	}
	return names
}

// Match reports whether the protection covers the session and, if so,
// what it matched on: "application_name pg_dump".
func (d *DefaultProtection) Match(s *activity.Session) (string, bool) {
	app := strings.ToLower(s.ApplicationName)
	for _, a := range d.Applications {
		if app != "" && strings.HasPrefix(app, a) {
			return "application_name " + s.ApplicationName, true
		}
	}
	if m, ok := d.matchRole(s); ok { // provider.go
		return m, true
	}
	for _, b := range d.BackendTypes {
		if s.BackendType != "" && strings.HasPrefix(s.BackendType, b) {
			return "backend_type " + s.BackendType, true
		}
	}
	return "", false
}

// Reason is the exclusion reason shown and recorded for a session the
// protection covers, given what Match returned.
func (d *DefaultProtection) Reason(matched string) string {
	return fmt.Sprintf("protected by default: %s (%s)", d.Name, matched)
}

// Defaults returns the default protections in force for the playbook:
// all of them but those it names under unprotect.
func (p *Playbook) Defaults() []DefaultProtection {
	var out []DefaultProtection
	for _, d := range DefaultProtections {
		if !slices.Contains(p.Unprotect, d.Name) {
			out = append(out, d)
		}
	}
	return out
}
