// Package arch holds no code: its tests read the module's import graph
// and check the package boundaries the package docs promise, such as
// internal/pg being the only door to PostgreSQL.
package arch
