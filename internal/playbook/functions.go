package playbook

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"sync"
	"time"

	"github.com/expr-lang/expr"
)

// Functions are the functions playbook expressions may call besides
// expr-lang's built-ins, with the types the checker accepts.
//
//	in_network(addr, net)   addr (client_addr) is in net: a CIDR network
//	                        ("10.0.0.0/8"), an address, or a host name
//	                        (resolved once per process, at most DNSTimeout);
//	                        net may be a list of any of these.
var functionOptions = []expr.Option{
	expr.Function("in_network", inNetwork,
		new(func(string, string) bool),
		new(func(string, []string) bool),
		new(func(string, []any) bool),
	),
}

// functionNames lists the names the functions take, reserved like the
// built-ins.
var functionNames = []string{"in_network"}

// DNSTimeout bounds the resolution of one host name in in_network.
const DNSTimeout = 2 * time.Second

func inNetwork(args ...any) (any, error) {
	addr, _ := args[0].(string)
	var nets []string
	switch x := args[1].(type) {
	case string:
		nets = []string{x}
	case []string:
		nets = x
	case []any:
		for _, v := range x {
			s, ok := v.(string)
			if !ok {
				return nil, fmt.Errorf("in_network: %v is not a network, address or host name", v)
			}
			nets = append(nets, s)
		}
	}
	ip, err := netip.ParseAddr(strings.TrimSpace(addr))
	if err != nil {
		// No client address (a Unix-domain socket, a hidden row): in no network.
		return false, nil
	}
	ip = ip.Unmap()
	for _, n := range nets {
		ok, err := matchNetwork(ip, strings.TrimSpace(n))
		if err != nil {
			return nil, err
		}
		if ok {
			return true, nil
		}
	}
	return false, nil
}

func matchNetwork(ip netip.Addr, n string) (bool, error) {
	if n == "" {
		return false, nil
	}
	if strings.Contains(n, "/") {
		p, err := netip.ParsePrefix(n)
		if err != nil {
			return false, fmt.Errorf("in_network: %q is not a CIDR network (example: 10.0.0.0/8)", n)
		}
		return p.Masked().Contains(ip), nil
	}
	if a, err := netip.ParseAddr(n); err == nil {
		return a.Unmap() == ip, nil
	}
	for _, a := range resolveHost(n) {
		if a == ip {
			return true, nil
		}
	}
	return false, nil
}

// resolved caches host name lookups for the life of the process: a run
// asks once per name, not once per row.
var resolved sync.Map // host name -> []netip.Addr

func resolveHost(name string) []netip.Addr {
	if v, ok := resolved.Load(name); ok {
		return v.([]netip.Addr)
	}
	ctx, cancel := context.WithTimeout(context.Background(), DNSTimeout)
	defer cancel()
	var out []netip.Addr
	addrs, err := net.DefaultResolver.LookupHost(ctx, name)
	if err == nil {
		for _, s := range addrs {
			if a, err := netip.ParseAddr(s); err == nil {
				out = append(out, a.Unmap())
			}
		}
	}
	resolved.Store(name, out)
	return out
}
