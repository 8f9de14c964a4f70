package rehearse

import (
	"context"
	"fmt"
	"net"
	"slices"
	"strconv"
	"strings"

	"github.com/pgrunbook/pgrunbook/internal/incident"
)

// serverSettings are the server settings the scenario's cast needs
// (sandbox.Options.Settings) for a load of clients pgbench clients: for a
// flood, a max_connections that the flood fills exactly.
func (s Scenario) serverSettings(clients int) map[string]string {
	if !s.has(IdleFlood) {
		return nil
	}
	others := 0
	for _, k := range s.Cast {
		if k != IdleFlood {
			others++
		}
	}
	return map[string]string{
		"max_connections":                strconv.Itoa(clients + others + floodSessions + reservedSlots),
		"superuser_reserved_connections": strconv.Itoa(reservedSlots),
	}
}

// settingsText renders server settings as name=value, sorted.
func settingsText(settings map[string]string) string {
	names := make([]string, 0, len(settings))
	for k := range settings {
		names = append(names, k)
	}
	slices.Sort(names)
	for i, k := range names {
		names[i] = k + "=" + settings[k]
	}
	return strings.Join(names, " ")
}

// prepareScenario makes what the scenario's cast needs besides the
// tables: roles for the applications that log in as their own, a
// pg_hba.conf line for the client host that is gone, query ids for the
// storm. It returns what it did, for the report.
func (r *rehearsal) prepareScenario(ctx context.Context) ([]string, error) {
	sc := r.opts.Scenario
	var done []string
	var roles []string
	for _, k := range []Kind{IdleFlood, OtherApp} {
		if sc.has(k) {
			roles = append(roles, kinds[k].app)
		}
	}
	for _, role := range roles {
		if err := incident.CreateLoginRole(ctx, r.dsn, role); err != nil {
			return nil, err
		}
	}
	if len(roles) > 0 {
		done = append(done, "login roles "+strings.Join(roles, ", ")+" created (not superusers: the reserved slots are not theirs)")
	}
	if sc.has(DeadClient) {
		if err := incident.AllowClientAddress(ctx, r.dsn, net.ParseIP(deadClientAddr)); err != nil {
			return nil, fmt.Errorf("let the second client address in: %w (the dead-clients scenario connects from %s, which on Linux is the loopback interface)", err, deadClientAddr)
		}
		done = append(done, "pg_hba.conf lets "+deadClientAddr+" in")
	}
	if sc.has(StormQuery) {
		on, err := incident.EnableQueryID(ctx, r.dsn, Database)
		if err != nil {
			return nil, err
		}
		if on {
			done = append(done, "compute_query_id = on in "+Database)
		} else {
			done = append(done, "no query_id before PostgreSQL 14")
		}
	}
	return done, nil
}
