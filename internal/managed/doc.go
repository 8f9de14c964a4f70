// Package managed knows the managed PostgreSQL services pgrunbook may run
// against (Amazon RDS and Aurora, Google Cloud SQL, Azure Database for
// PostgreSQL flexible server, Supabase, Neon): the roles and databases
// that give each away, the provider's superuser and service roles, and
// the connection slots a role may still use when the server is full.
//
// It holds knowledge and pure logic only; package pg reads the catalogs
// at connect and the engine, the playbook's default protections and the
// renderer use what it found.
package managed
