package activity

// Server holds the facts about the server a snapshot was read from that
// playbook expressions see as `server` and every confirmation shows: which
// server it is, whether it is a primary, and how full its connection
// slots are. Counts are as of the snapshot.
type Server struct {
	// Host and Port are where pgrunbook connected (a socket directory
	// for a Unix-domain socket).
	Host string `expr:"host" json:"host,omitempty"`
	Port int    `expr:"port" json:"port,omitempty"`
	// IsStandby is pg_is_in_recovery(): true on a standby (a replica).
	IsStandby bool `expr:"is_standby" json:"is_standby"`
	// ClusterName is the cluster_name setting ("" when unset).
	ClusterName string `expr:"cluster_name" json:"cluster_name,omitempty"`
	// Version is the server_version text and VersionNum
	// server_version_num (150004 for 15.4).
	Version    string `expr:"version" json:"version,omitempty"`
	VersionNum int    `expr:"version_num" json:"version_num,omitempty"`
	// MaxConnections is max_connections; SuperuserReservedConnections
	// the slots of it only superusers may use; ReservedConnections the
	// slots for members of pg_use_reserved_connections (PostgreSQL 16
	// and later; 0 before).
	MaxConnections               int `expr:"max_connections" json:"max_connections,omitempty"`
	SuperuserReservedConnections int `expr:"superuser_reserved_connections" json:"superuser_reserved_connections,omitempty"`
	ReservedConnections          int `expr:"reserved_connections" json:"reserved_connections,omitempty"`
	// ConnectionsUsed counts the client backends of the snapshot, the
	// sessions that take max_connections slots.
	ConnectionsUsed int `expr:"connections_used" json:"connections_used,omitempty"`
	// ConnectionsFree is how many more ordinary (non-reserved) sessions
	// the server would accept: max_connections less both reserves and
	// the slots in use, never below 0.
	ConnectionsFree int `expr:"connections_free" json:"connections_free"`
}

// Role names the server's role for the operator: "primary" or "standby".
func (s Server) Role() string {
	if s.IsStandby {
		return "standby"
	}
	return "primary"
}

// countConnections fills the counts that depend on the snapshot's rows.
func (s *Snapshot) countConnections() {
	used := 0
	for i := range s.Rows {
		r := &s.Rows[i]
		// A hidden row's backend_type is null; it is counted, since
		// sessions of other roles are what fills the slots.
		if r.BackendType == ClientBackend || (r.BackendType == "" && r.Hidden()) {
			used++
		}
	}
	s.Server.ConnectionsUsed = used
	free := s.Server.MaxConnections - s.Server.SuperuserReservedConnections - s.Server.ReservedConnections - used
	s.Server.ConnectionsFree = max(free, 0)
}
