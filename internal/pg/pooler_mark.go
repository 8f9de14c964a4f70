package pg

import (
	"context"
	"fmt"
	"regexp"
	"strings"

	"github.com/pgrunbook/pgrunbook/internal/activity"
)

// poolerAppNames are application_name values poolers give their server
// connections: PgBouncer's default for a client that set none,
// Supavisor's, and PgCat's (which resets it to its own name).
var poolerAppNames = map[string]string{
	"pgbouncer":            "PgBouncer",
	"supavisor":            "Supavisor",
	"supavisor auth_query": "Supavisor",
	"pgcat":                "PgCat",
}

// addHostSuffix is what PgBouncer's (and Odyssey's)
// application_name_add_host append to a client's application_name: " - addr:port".
var addHostSuffix = regexp.MustCompile(` - ([0-9A-Za-z.:\[\]%_-]+):([0-9]{1,5})$`)

// markPooled marks the rows of a snapshot whose client is a pooler: with
// a --pooler console, exactly (SHOW SERVERS) and with the client linked
// to each now; without one, or for backends of other poolers, from the
// application_name poolers set. A console that cannot be read leaves the
// rows to the application_name rules and says why in their reason.
func (c *Client) markPooled(ctx context.Context, snap *activity.Snapshot) {
	var pm *poolMap
	consoleProblem := ""
	if c.console != nil {
		var err error
		if pm, err = c.console.Map(ctx); err != nil {
			consoleProblem = "the --pooler console could not be read (" + oneLine(err) + "), so the client behind it is unknown"
		}
	}
	markRows(snap.Rows, pm, consoleProblem)
}

// markRows applies the pool map (nil without a console) and the
// application_name rules to rows.
func markRows(rows []activity.Session, pm *poolMap, consoleProblem string) {
	for i := range rows {
		r := &rows[i]
		if r.BackendType != activity.ClientBackend && r.BackendType != "" {
			continue
		}
		if pm != nil && pm.mark(r) {
			continue
		}
		reason := appNameReason(r.ApplicationName)
		if reason == "" {
			continue
		}
		r.ViaPooler = true
		r.PoolerReason = reason
		if consoleProblem != "" {
			r.PoolerReason += "; " + consoleProblem
		}
	}
}

// mark fills in r's pooler fields if r is one of the console's server
// connections: same pid, and connected from the pooler's end of it.
func (pm *poolMap) mark(r *activity.Session) bool {
	for i, s := range pm.servers {
		if s.pid != r.PID || !s.matchesClient(r.ClientAddr, r.ClientPort) {
			continue
		}
		r.ViaPooler = true
		r.PoolMode = s.mode
		r.PoolerReason = fmt.Sprintf("a server connection of %s (SHOW SERVERS)", pm.console)
		switch {
		case pm.unsure[i]:
			r.PoolerReason += "; its client changed while the console was read, so it is not named"
		case s.link == "":
			r.PoolerReason += "; linked to no client now"
		default:
			cl := pm.linked[i]
			r.PoolerClientAddr, r.PoolerClientPort, r.PoolerClientApp = cl.addr, cl.port, cl.app
			r.PoolerClientUser, r.PoolerClientConnected = cl.user, cl.connectTime
		}
		return true
	}
	return false
}

// appNameReason says why an application_name marks a pooled backend, or
// "" when it does not.
func appNameReason(app string) string {
	if name, ok := poolerAppNames[strings.ToLower(app)]; ok {
		return fmt.Sprintf("application_name %q is %s's own", app, name)
	}
	if m := addHostSuffix.FindStringSubmatch(app); m != nil {
		return fmt.Sprintf("application_name ends in %q, as a pooler's application_name_add_host makes it: the client at %s:%s, or one before it",
			m[0], m[1], m[2])
	}
	return ""
}
