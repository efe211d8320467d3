package loop

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"testing"
)

func TestNetPolicyCheck(t *testing.T) {
	cases := []struct {
		p    NetPolicy
		url  string
		want bool
	}{
		{NetPolicy{}, "http://example.com/", false},
		{NetPolicy{Hosts: []string{"127.0.0.1"}}, "http://127.0.0.1:8080/x", true},
		{NetPolicy{Hosts: []string{"127.0.0.1:9000"}}, "http://127.0.0.1:8080/x", false},
		{NetPolicy{Hosts: []string{"127.0.0.1:9000"}}, "http://127.0.0.1:9000/x", true},
		{NetPolicy{Hosts: []string{"api.example.com"}}, "https://api.example.com/", true},
		{NetPolicy{Hosts: []string{"api.example.com"}}, "https://other.example.com/", false},
		{NetPolicy{Public: true}, "https://example.com/", true}, // the address is checked at dial time
		{NetPolicy{Public: true}, "file:///etc/passwd", false},
		{NetPolicy{Hosts: []string{"127.0.0.1"}}, "ftp://127.0.0.1/", false},
	}
	for _, c := range cases {
		u, _ := url.Parse(c.url)
		err := c.p.Check(context.Background(), u)
		if (err == nil) != c.want {
			t.Errorf("%+v %s: err = %v, want allowed=%v", c.p, c.url, err, c.want)
		}
		if err != nil && !errors.Is(err, ErrDenied) {
			t.Errorf("%s: %v does not wrap ErrDenied", c.url, err)
		}
	}
}

func TestPublicAddr(t *testing.T) {
	for addr, want := range map[string]bool{
		"8.8.8.8": true, "2606:4700::1111": true,
		"127.0.0.1": false, "10.1.2.3": false, "172.16.0.1": false, "192.168.1.1": false,
		"169.254.169.254": false, "100.64.0.1": false, "0.0.0.0": false, "::1": false,
		"fc00::1": false, "fe80::1": false, "::ffff:127.0.0.1": false,
	} {
		if got := publicAddr(netip.MustParseAddr(addr)); got != want {
			t.Errorf("publicAddr(%s) = %v, want %v", addr, got, want)
		}
	}
}

// A public-only permission must not reach loopback, whether named by
// address, by a name that resolves there, or through a redirect.
func TestNetPolicyPublicRefusesLoopback(t *testing.T) {
	inner := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("secret")) }))
	defer inner.Close()
	f := NewPolicyFetcher(NetPolicy{Public: true})
	for _, raw := range []string{inner.URL + "/", "http://localhost" + inner.URL[len("http://127.0.0.1"):] + "/"} {
		_, err := f.Fetch(context.Background(), &Request{Method: "GET", URL: raw})
		if err == nil || !errors.Is(err, ErrDenied) {
			t.Errorf("%s: err = %v, want a refusal", raw, err)
		}
	}
	// Listed explicitly, loopback is allowed; a redirect from there to
	// another loopback port is checked again.
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("other")) }))
	defer other.Close()
	redir := httptest.NewServer(http.RedirectHandler(other.URL+"/", http.StatusFound))
	defer redir.Close()
	host := redir.Listener.Addr().String()
	f = NewPolicyFetcher(NetPolicy{Hosts: []string{host}})
	if _, err := f.Fetch(context.Background(), &Request{Method: "GET", URL: redir.URL + "/"}); err == nil || !errors.Is(err, ErrDenied) {
		t.Errorf("redirect to an unlisted port: err = %v, want a refusal", err)
	}
}
