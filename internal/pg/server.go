package pg

import (
	"context"
	"fmt"

	"github.com/pgrunbook/pgrunbook/internal/activity"
)

// serverFacts are the facts about the server that do not change while a
// connection lasts (its identity, version and connection slots), read
// once by Connect and copied into every snapshot's Server, whose
// IsStandby and connection counts each snapshot fills. It is an alias so
// that the Client's field needs no import where Client is declared.
type serverFacts = activity.Server

// serverFactsSQL reads the connection slot settings and cluster_name.
// reserved_connections exists from PostgreSQL 16: %s is the setting there
// and '0' before (a constant of this file, never input).
const serverFactsSQL = `SELECT current_setting('cluster_name'),
       current_setting('max_connections')::int,
       current_setting('superuser_reserved_connections')::int,
       %s::int`

// readServerFacts reads the server's static facts into c.server after
// c.info is filled. On failure it closes the connection and returns a
// *ConnectError naming target, as Connect's own failures do.
func (c *Client) readServerFacts(ctx context.Context, target string) error {
	reserved := "'0'"
	if c.info.VersionNum >= 160000 {
		reserved = "current_setting('reserved_connections')"
	}
	f := serverFacts{Host: c.info.Host, Port: c.info.Port, Version: c.info.Version, VersionNum: c.info.VersionNum}
	err := c.conn.QueryRow(ctx, fmt.Sprintf(serverFactsSQL, reserved)).
		Scan(&f.ClusterName, &f.MaxConnections, &f.SuperuserReservedConnections, &f.ReservedConnections)
	if err != nil {
		c.conn.Close(context.WithoutCancel(ctx))
		return &ConnectError{Target: target, Reason: "connected, but could not read the server's connection settings: " + oneLine(err), Err: err}
	}
	c.server = f
	return nil
}

// ServerFacts returns the facts Connect read about the server. IsStandby
// and the connection counts are a snapshot's: see Snapshot.Server.
func (c *Client) ServerFacts() activity.Server { return c.server }
