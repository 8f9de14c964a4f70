package incident

import (
	"context"
	"fmt"
	"net"
	"os"
	"strings"
	"time"

	"github.com/pgrunbook/pgrunbook/internal/pg/pgsession"
)

// IdleFrom opens an idle session like Idle whose TCP connection leaves
// from the local address local, so that pg_stat_activity.client_addr
// shows it: on Linux every address of 127.0.0.0/8 is the loopback
// interface, so 127.0.0.2 stands for a second client host. The DSN must
// name a TCP host, and the server's pg_hba.conf must let that address in
// (AllowClientAddress).
func IdleFrom(ctx context.Context, dsn, app string, local net.IP) (*Session, error) {
	s, err := connectWith(ctx, dsn, pgsession.Options{App: app, LocalAddr: local})
	if err != nil {
		return nil, err
	}
	s.markDone()
	return s, nil
}

// AllowClientAddress makes the server, which must run on this machine,
// accept connections from the address addr with trust authentication:
// it appends "host all all ADDR/32 trust" to the file the server's
// hba_file setting names (unless the line is there), reloads the
// configuration and waits until a connection from addr gets in. It is
// for throwaway test servers only.
func AllowClientAddress(ctx context.Context, dsn string, addr net.IP) error {
	if addr.To4() == nil {
		return fmt.Errorf("incident: AllowClientAddress takes an IPv4 address, not %s", addr)
	}
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, waitCap)
		defer cancel()
	}
	conn, err := probeConn(ctx, dsn)
	if err != nil {
		return err
	}
	defer conn.Close(context.Background())
	var path string
	if err := conn.QueryRow(ctx, "SHOW hba_file").Scan(&path); err != nil {
		return fmt.Errorf("incident: read hba_file: %w", err)
	}
	line := "host all all " + addr.String() + "/32 trust"
	content, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("incident: the server's hba_file %s cannot be read here (is the server on this machine?): %w", path, err)
	}
	if !hasLine(string(content), line) {
		f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
		if err != nil {
			return fmt.Errorf("incident: open %s: %w", path, err)
		}
		_, werr := fmt.Fprintf(f, "\n# added by pgrunbook's incident staging: a second client host\n%s\n", line)
		if cerr := f.Close(); werr == nil {
			werr = cerr
		}
		if werr != nil {
			return fmt.Errorf("incident: append to %s: %w", path, werr)
		}
	}
	if _, err := conn.Exec(ctx, "SELECT pg_reload_conf()"); err != nil {
		return fmt.Errorf("incident: reload the configuration: %w", err)
	}
	// The postmaster reloads pg_hba.conf when it gets the signal, a moment
	// later: until then a connection from addr is refused (28000).
	ticker := time.NewTicker(pollInterval)
	defer ticker.Stop()
	for {
		s, err := IdleFrom(ctx, dsn, ProbeApp, addr)
		switch {
		case err == nil:
			s.Close()
			return nil
		case pgsession.SQLState(err) != sqlstateNoHBAEntry:
			return fmt.Errorf("incident: connect from %s: %w", addr, err)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("incident: the server still refuses connections from %s after reloading %s: %w", addr, path, ctx.Err())
		case <-ticker.C:
		}
	}
}

// hasLine reports whether text has line as one of its lines.
func hasLine(text, line string) bool {
	for _, l := range strings.Split(text, "\n") {
		if strings.TrimSpace(l) == line {
			return true
		}
	}
	return false
}
