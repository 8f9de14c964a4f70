package hoststat

import (
	"errors"
	"testing"
)

func TestNotLocalMessage(t *testing.T) {
	cases := []struct {
		n    int
		left leftOut
		want string
	}{
		{1, leftOut{noProcess: 1}, "no backend is a process on this host: the backend has no process here; the server is remote or in another PID namespace"},
		{3, leftOut{noProcess: 2, notPostgres: 1}, "no backend is a process on this host: of 3 backends, 2 have no process here and 1 is a process here that is not a PostgreSQL backend; the server is remote or in another PID namespace"},
		{4, leftOut{noProcess: 1, otherStart: 2, noStartTime: 1}, "no backend is a process on this host: of 4 backends, 1 has no process here, 2 are PostgreSQL processes here that started at other times and 1 has no backend_start to check (hidden from this role); the server is remote or in another PID namespace"},
		{2, leftOut{unreadable: 2}, "no backend is a process on this host: of 2 backends, 2 could not be read in /proc (is /proc mounted with hidepid?)"},
	}
	for _, c := range cases {
		err := c.left.err(c.n)
		if !errors.Is(err, ErrNotLocal) {
			t.Errorf("%v does not wrap ErrNotLocal", err)
		}
		if err.Error() != c.want {
			t.Errorf("message\n got %s\nwant %s", err, c.want)
		}
	}
}
