package activity

import "testing"

func TestCommandOf(t *testing.T) {
	cases := []struct {
		query string
		want  string
		ddl   bool
	}{
		{"SELECT 1", "SELECT", false},
		{"  select * from t", "SELECT", false},
		{"-- a report\nSELECT count(*) FROM orders", "SELECT", false},
		{"/* outer /* nested */ still comment */ update t set a = 1", "UPDATE", false},
		{"((SELECT 1) UNION (SELECT 2))", "SELECT", false},
		{"WITH x AS (SELECT 1) SELECT * FROM x", "SELECT", false},
		{"WITH moved AS (DELETE FROM a RETURNING *) INSERT INTO b SELECT * FROM moved", "INSERT", false},
		{"with recursive r(n) as (select 1 union all select n+1 from r) , s as materialized (select 2) update t set n = 1", "UPDATE", false},
		{"WITH x AS (SELECT ')' AS p) DELETE FROM t", "DELETE", false},
		{"ALTER TABLE orders ADD COLUMN note text", "ALTER TABLE", true},
		{"alter table if exists orders drop column x", "ALTER TABLE", true},
		{"CREATE UNIQUE INDEX CONCURRENTLY i ON t (a)", "CREATE INDEX", true},
		{"CREATE OR REPLACE FUNCTION f() RETURNS int AS $$ SELECT 1 $$ LANGUAGE sql", "CREATE FUNCTION", true},
		{"CREATE TEMP TABLE t (a int)", "CREATE TABLE", true},
		{"create materialized view v as select 1", "CREATE MATERIALIZED VIEW", true},
		{"DROP FOREIGN TABLE ft", "DROP FOREIGN TABLE", true},
		{"DROP TRIGGER trg ON t", "DROP TRIGGER", true},
		{"CREATE EVENT TRIGGER e ON ddl_command_start EXECUTE FUNCTION f()", "CREATE EVENT TRIGGER", true},
		{"TRUNCATE orders", "TRUNCATE", true},
		{"REINDEX INDEX CONCURRENTLY i", "REINDEX", true},
		{"REFRESH MATERIALIZED VIEW CONCURRENTLY v", "REFRESH MATERIALIZED VIEW", true},
		{"LOCK TABLE orders IN ACCESS EXCLUSIVE MODE", "LOCK", false},
		{"VACUUM (VERBOSE) orders", "VACUUM", false},
		{"vacuum full orders", "VACUUM", false},
		{"ANALYSE orders", "ANALYZE", false},
		{"COPY public.orders TO stdout", "COPY", false},
		{"VALUES (1), (2)", "SELECT", false},
		{"TABLE orders", "SELECT", false},
		{"START TRANSACTION ISOLATION LEVEL REPEATABLE READ", "BEGIN", false},
		{"END", "COMMIT", false},
		{"autovacuum: VACUUM public.orders (to prevent wraparound)", "AUTOVACUUM", false},
		{"autovacuum: ANALYZE public.orders", "AUTOANALYZE", false},
		{"autovacuum: VACUUM ANALYZE public.orders", "AUTOVACUUM", false},
		{"", "", false},
		{"   ;  ", "", false},
		{"<insufficient privilege>", "", false},
		{"$1", "", false},
	}
	for _, c := range cases {
		got, ddl := CommandOf(c.query)
		if got != c.want || ddl != c.ddl {
			t.Errorf("CommandOf(%q) = %q, %v; want %q, %v", c.query, got, ddl, c.want, c.ddl)
		}
	}
}

func FuzzCommandOf(f *testing.F) {
	for _, s := range []string{"SELECT 1", "WITH a AS (SELECT 1) UPDATE t SET a=1", "/* x", "$$", "$a$ b", "'unterminated", "((("} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, q string) {
		CommandOf(q) // must not panic or loop
	})
}
