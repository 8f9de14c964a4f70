package pg

import (
	"fmt"
	"strings"

	"github.com/pgrunbook/pgrunbook/internal/managed"
)

// providerColumns are the set-up statement's columns that recognise a
// managed service and read the reserved connection slots (package
// managed): the provider's marker roles and databases that exist, the
// server's superuser roles, the three reserve settings (NULL where the
// server has no such setting) and the role's memberships in
// rds_superuser and pg_use_reserved_connections (NULL, read as false,
// where the role does not exist). $%[1]d and $%[2]d are the marker names,
// space separated: nothing is interpolated but the placeholder numbers.
const providerColumns = `,
       ARRAY(SELECT m.rolname::text FROM pg_roles m WHERE m.rolname = ANY(string_to_array($%[1]d, ' ')) ORDER BY 1),
       ARRAY(SELECT d.datname::text FROM pg_database d WHERE d.datname = ANY(string_to_array($%[2]d, ' ')) ORDER BY 1),
       ARRAY(SELECT s.rolname::text FROM pg_roles s WHERE s.rolsuper ORDER BY 1),
       coalesce(current_setting('superuser_reserved_connections', true), ''),
       coalesce(current_setting('rds.rds_superuser_reserved_connections', true), ''),
       coalesce(current_setting('reserved_connections', true), ''),
       coalesce(pg_has_role((SELECT o.oid FROM pg_roles o WHERE o.rolname = 'rds_superuser'), 'USAGE'), false),
       coalesce(pg_has_role((SELECT o.oid FROM pg_roles o WHERE o.rolname = 'pg_use_reserved_connections'), 'USAGE'), false)`

// providerFacts receives providerColumns.
type providerFacts struct {
	roles, databases, superusers []string
	slots                        managed.SlotFacts
}

// providerSQL returns providerColumns for placeholders starting at first.
func providerSQL(first int) string { return fmt.Sprintf(providerColumns, first, first+1) }

// providerArgs are the values of providerSQL's placeholders.
func providerArgs() []any {
	return []any{strings.Join(managed.MarkerRoleNames(), " "), strings.Join(managed.MarkerDatabaseNames(), " ")}
}

// dest lists where providerColumns are scanned to.
func (f *providerFacts) dest() []any {
	return []any{&f.roles, &f.databases, &f.superusers,
		&f.slots.SuperuserReserved, &f.slots.RDSSuperuserReserved, &f.slots.Reserved,
		&f.slots.RDSSuperuserMember, &f.slots.UseReservedMember}
}

// apply records what the facts mean in info: the provider, if any, and
// the reserved slots the role may use.
func (f *providerFacts) apply(info *ServerInfo) {
	info.Provider = managed.Detect(f.roles, f.databases, f.superusers, info.Privileges.Superuser)
	f.slots.Superuser = info.Privileges.Superuser
	info.ReservedSlots = f.slots.Reserves()
}
