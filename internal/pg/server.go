package pg

import (
	"github.com/pgrunbook/pgrunbook/internal/activity"
)

// serverFacts are the facts about the server that do not change while a
// connection lasts (its identity, version and connection slots), read
// once by Connect and copied into every snapshot's Server, whose
// IsStandby and connection counts each snapshot fills. It is an alias so
// that the Client's field needs no import where Client is declared.
type serverFacts = activity.Server

// factsOf makes the server facts from what the set-up statement read
// (settings.go).
func factsOf(info ServerInfo) serverFacts {
	return serverFacts{
		Host: info.Host, Port: info.Port, Version: info.Version, VersionNum: info.VersionNum,
		ClusterName: info.Slots.ClusterName, MaxConnections: info.Slots.MaxConnections,
		SuperuserReservedConnections: info.Slots.SuperuserReservedConnections,
		ReservedConnections:          info.Slots.ReservedConnections,
	}
}

// ServerFacts returns the facts Connect read about the server. IsStandby
// and the connection counts are a snapshot's: see Snapshot.Server.
func (c *Client) ServerFacts() activity.Server { return c.server }
