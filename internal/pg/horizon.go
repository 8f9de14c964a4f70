package pg

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/pgrunbook/pgrunbook/internal/activity"
)

// buildHorizonSQL is the statement that reads what pins the xmin horizon
// besides sessions, for one server version: the replication slots with
// an xmin or catalog_xmin, the prepared transactions, the standbys whose
// hot_standby_feedback sets a backend_xmin, and autovacuum_freeze_max_age.
// Each list comes back as one JSON array whose keys are the json names of
// the activity types, so every version decodes alike; a column a version
// lacks is selected as NULL.
func buildHorizonSQL(versionNum int) string {
	walStatus := "NULL::text"
	if versionNum >= 130000 {
		walStatus = "s.wal_status"
	}
	return fmt.Sprintf(`SELECT statement_timestamp(),
       current_setting('autovacuum_freeze_max_age')::bigint,
       (SELECT coalesce(json_agg(json_build_object(
                 'slot_name', s.slot_name, 'slot_type', s.slot_type, 'plugin', s.plugin,
                 'database', s.database, 'active', s.active, 'active_pid', s.active_pid,
                 'xmin_age', age(s.xmin), 'catalog_xmin_age', age(s.catalog_xmin),
                 'wal_status', %s) ORDER BY s.slot_name), '[]'::json)
          FROM pg_replication_slots s
         WHERE s.xmin IS NOT NULL OR s.catalog_xmin IS NOT NULL),
       (SELECT coalesce(json_agg(json_build_object(
                 'gid', p.gid, 'prepared', p.prepared, 'owner', p.owner,
                 'database', p.database, 'xmin_age', age(p.transaction)) ORDER BY p.prepared), '[]'::json)
          FROM pg_prepared_xacts p),
       (SELECT coalesce(json_agg(json_build_object(
                 'pid', r.pid, 'usename', r.usename, 'application_name', r.application_name,
                 'client_addr', host(r.client_addr), 'state', r.state,
                 'xmin_age', age(r.backend_xmin)) ORDER BY r.pid), '[]'::json)
          FROM pg_stat_replication r
         WHERE r.backend_xmin IS NOT NULL)`, walStatus)
}

// Horizon reads what pins the xmin horizon besides sessions, in one
// statement (one round trip). It only reads: the statements that would
// release a slot or a prepared transaction are for a person to run.
func (c *Client) Horizon(ctx context.Context) (*activity.Horizon, error) {
	var (
		h                        activity.Horizon
		taken                    time.Time
		slots, prepared, standby []byte
	)
	c.settle() // ahead.go
	err := c.conn.QueryRow(ctx, buildHorizonSQL(c.info.VersionNum)).Scan(&taken, &h.FreezeMaxAge, &slots, &prepared, &standby)
	if err != nil {
		return nil, c.lost(fmt.Errorf("reading the xmin horizon's holders: %w", err))
	}
	for _, part := range []struct {
		what string
		data []byte
		into any
	}{
		{"pg_replication_slots", slots, &h.Slots},
		{"pg_prepared_xacts", prepared, &h.Prepared},
		{"pg_stat_replication", standby, &h.Standbys},
	} {
		if err := json.Unmarshal(part.data, part.into); err != nil {
			return nil, fmt.Errorf("decoding %s: %w", part.what, err)
		}
	}
	h.Taken = taken.UTC()
	for i := range h.Prepared {
		h.Prepared[i].Prepared = h.Prepared[i].Prepared.UTC()
	}
	h.Derive()
	return &h, nil
}
