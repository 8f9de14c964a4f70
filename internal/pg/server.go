package pg

import (
	"github.com/pgrunbook/pgrunbook/internal/activity"
)

// ServerFacts returns the facts about the server that do not change while
// a connection lasts (its identity, version and connection slots), as the
// set-up statement read them (settings.go). Every snapshot's Server starts
// from them; IsStandby and the connection counts are the snapshot's own.
func (c *Client) ServerFacts() activity.Server {
	info := c.info
	return activity.Server{
		Host: info.Host, Port: info.Port, Version: info.Version, VersionNum: info.VersionNum,
		ClusterName: info.Slots.ClusterName, MaxConnections: info.Slots.MaxConnections,
		SuperuserReservedConnections: info.Slots.SuperuserReservedConnections,
		ReservedConnections:          info.Slots.ReservedConnections,
	}
}
