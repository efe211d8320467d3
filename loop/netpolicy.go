package loop

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"time"
)

// NetPolicy is the sandbox's network permission (the kernel's --allow-net):
// Hosts lists what may be reached ("host" or "host:port"); with Public set,
// any host whose addresses are all public may be reached too. Loopback,
// private, link-local (cloud metadata included), CGNAT, unique-local and
// unspecified addresses are refused unless listed, and that check is made on
// the address actually dialled, after DNS resolution and for every redirect.
type NetPolicy struct {
	Hosts  []string
	Public bool
}

// Enabled reports whether any network access is allowed.
func (p NetPolicy) Enabled() bool { return p.Public || len(p.Hosts) > 0 }

func (p NetPolicy) String() string {
	switch {
	case !p.Enabled():
		return "none"
	case p.Public && len(p.Hosts) > 0:
		return "public addresses and " + strings.Join(p.Hosts, ",")
	case p.Public:
		return "public addresses"
	}
	return strings.Join(p.Hosts, ",")
}

func (p NetPolicy) listed(host, port string) bool {
	host = strings.ToLower(strings.Trim(host, "[]"))
	for _, h := range p.Hosts {
		hh, hp, err := net.SplitHostPort(h)
		if err != nil {
			hh, hp = h, ""
		}
		if strings.ToLower(strings.Trim(hh, "[]")) == host && (hp == "" || hp == port) {
			return true
		}
	}
	return false
}

func portOf(u *url.URL) string {
	if p := u.Port(); p != "" {
		return p
	}
	if u.Scheme == "https" {
		return "443"
	}
	return "80"
}

// Check implements Policy: the URL's scheme and host.
func (p NetPolicy) Check(ctx context.Context, u *url.URL) error {
	if u.Scheme != "http" && u.Scheme != "https" {
		return fmt.Errorf("%w: %s URLs cannot be fetched from the sandbox", ErrDenied, u.Scheme)
	}
	if p.listed(u.Hostname(), portOf(u)) || p.Public {
		return nil
	}
	return p.denied(u.Host)
}

func (p NetPolicy) denied(hostport string) error {
	if !p.Enabled() {
		return fmt.Errorf("%w: %s: the kernel has no network permission (install it with --allow-net=%s)", ErrDenied, hostport, hostport)
	}
	return fmt.Errorf("%w: %s is not allowed (allowed: %s; add it with --allow-net=%s)", ErrDenied, hostport, p, hostport)
}

// publicAddr reports whether a is a public unicast address.
func publicAddr(a netip.Addr) bool {
	a = a.Unmap()
	if !a.IsValid() || a.IsLoopback() || a.IsPrivate() || a.IsLinkLocalUnicast() || a.IsLinkLocalMulticast() ||
		a.IsInterfaceLocalMulticast() || a.IsMulticast() || a.IsUnspecified() {
		return false
	}
	if a.Is4() && netip.MustParsePrefix("100.64.0.0/10").Contains(a) { // carrier-grade NAT
		return false
	}
	if a.Is4() && a.As4()[0] == 0 {
		return false
	}
	return true
}

// Transport is an HTTP transport whose connections are checked against the
// policy on the address dialled: a public-only permission cannot be turned
// into loopback access by DNS or a redirect.
func (p NetPolicy) Transport() *http.Transport {
	d := &net.Dialer{Timeout: 30 * time.Second}
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.Proxy = nil // the sandbox's requests go where the policy says, not through the host's proxy
	t.DialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
		host, port, err := net.SplitHostPort(addr)
		if err != nil {
			return nil, err
		}
		if p.listed(host, port) {
			c, err := d.DialContext(ctx, network, addr)
			if err != nil {
				return nil, err
			}
			return quickAck(c), nil
		}
		ips, err := net.DefaultResolver.LookupNetIP(ctx, "ip", host)
		if err != nil {
			return nil, err
		}
		for _, ip := range ips {
			if !p.Public || !publicAddr(ip) {
				return nil, fmt.Errorf("%w: %s resolves to %s, which is not a public address", ErrDenied, host, ip)
			}
		}
		if len(ips) == 0 {
			return nil, fmt.Errorf("no address for %s", host)
		}
		c, err := d.DialContext(ctx, network, net.JoinHostPort(ips[0].String(), port))
		if err != nil {
			return nil, err
		}
		return quickAck(c), nil
	}
	return t
}

// NewPolicyFetcher is a Fetcher that applies p before each request, on each
// redirect and on each connection.
func NewPolicyFetcher(p NetPolicy) *Fetcher {
	f := NewFetcher(p)
	f.Transport = p.Transport()
	return f
}
