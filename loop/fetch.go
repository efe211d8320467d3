package loop

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"sync"
	"time"
)

// Policy decides whether the sandbox may fetch a URL. The Fetcher asks it
// before every request and again for every redirect; an error refuses the
// request (Python sees PermissionError). data: URLs never reach the network
// and are not checked.
type Policy interface {
	Check(ctx context.Context, u *url.URL) error
}

// PolicyFunc adapts a function to Policy.
type PolicyFunc func(ctx context.Context, u *url.URL) error

// Check implements Policy.
func (f PolicyFunc) Check(ctx context.Context, u *url.URL) error { return f(ctx, u) }

// ErrDenied is wrapped by the errors of a Policy that refuses a URL.
var ErrDenied = errors.New("network access denied")

// DenyAll refuses every URL: the policy of a Fetcher that was given none.
var DenyAll Policy = PolicyFunc(func(ctx context.Context, u *url.URL) error {
	return fmt.Errorf("%w: %s (no network policy allows it)", ErrDenied, u.Redacted())
})

// AllowHosts permits http and https to the given hosts (by name or IP
// literal, any port) and refuses everything else.
func AllowHosts(hosts ...string) Policy {
	ok := map[string]bool{}
	for _, h := range hosts {
		ok[strings.ToLower(strings.Trim(h, "[]"))] = true
	}
	return PolicyFunc(func(ctx context.Context, u *url.URL) error {
		if u.Scheme != "http" && u.Scheme != "https" {
			return fmt.Errorf("%w: scheme %q", ErrDenied, u.Scheme)
		}
		if !ok[strings.ToLower(u.Hostname())] {
			return fmt.Errorf("%w: host %q is not allowed", ErrDenied, u.Hostname())
		}
		return nil
	})
}

// Defaults of a Fetcher.
const (
	DefaultMaxResponseBytes = 64 << 20
	DefaultFetchTimeout     = 60 * time.Second
	maxRedirects            = 20
)

// FetchErrorKind says why a fetch failed; Python maps it to an exception.
type FetchErrorKind string

const (
	FetchDenied     FetchErrorKind = "denied"      // the Policy refused a URL (PermissionError)
	FetchAborted    FetchErrorKind = "aborted"     // cancelled (AbortError)
	FetchTimeout    FetchErrorKind = "timeout"     // the timeout passed (TimeoutError)
	FetchTooLarge   FetchErrorKind = "too_large"   // over MaxResponseBytes (OSError)
	FetchBadRequest FetchErrorKind = "bad_request" // a malformed URL, method, redirect (ValueError)
	FetchNetwork    FetchErrorKind = "network"     // anything else (OSError)
)

// FetchError is the error of a failed fetch.
type FetchError struct {
	Kind FetchErrorKind
	Err  error
}

func (e *FetchError) Error() string { return e.Err.Error() }
func (e *FetchError) Unwrap() error { return e.Err }

func fetchErr(kind FetchErrorKind, format string, a ...any) *FetchError {
	return &FetchError{Kind: kind, Err: fmt.Errorf(format, a...)}
}

// Request is one fetch, as JavaScript's fetch(url, init) would make it.
type Request struct {
	Method   string      // empty: GET
	URL      string      // absolute http, https or data URL
	Header   [][2]string // in order; Host and Content-Length are ignored
	Body     []byte
	Redirect string        // "follow" (empty), "error" or "manual"
	Timeout  time.Duration // shortens the Fetcher's timeout if smaller; 0: none
}

// Response is a fetched response, with its whole body.
type Response struct {
	Status     int
	StatusText string
	URL        string // the final URL, after redirects
	Redirected bool
	Type       string      // "basic", or "opaqueredirect" for a manual redirect
	Header     [][2]string // lower-case names, sorted; repeated fields joined with ", "
	Body       []byte
}

// Fetcher makes HTTP requests for the sandbox with net/http. Its fields may
// not change once it is in use. It is safe for concurrent use.
type Fetcher struct {
	// Policy is asked about every URL, redirects included. Nil: DenyAll.
	Policy Policy
	// MaxResponseBytes caps a response body. 0: DefaultMaxResponseBytes.
	MaxResponseBytes int64
	// Timeout bounds a whole fetch, body included. 0: DefaultFetchTimeout.
	Timeout time.Duration
	// Transport: nil means a private clone of http.DefaultTransport that
	// ignores the host's proxy settings.
	Transport http.RoundTripper
	// UserAgent is sent unless the request sets one. Empty: "wasmpy".
	UserAgent string

	once sync.Once
	tr   http.RoundTripper
}

// NewFetcher makes a Fetcher with a policy; the other fields take defaults.
func NewFetcher(p Policy) *Fetcher { return &Fetcher{Policy: p} }

func (f *Fetcher) policy() Policy {
	if f.Policy == nil {
		return DenyAll
	}
	return f.Policy
}

func (f *Fetcher) transport() http.RoundTripper {
	f.once.Do(func() {
		if f.Transport != nil {
			f.tr = f.Transport
			return
		}
		t := http.DefaultTransport.(*http.Transport).Clone()
		t.Proxy = nil
		f.tr = t
	})
	return f.tr
}

// Start runs req on its own goroutine and calls done on the loop goroutine
// (as a macrotask) with the outcome. abort cancels it, like an
// AbortController: done then gets a FetchError of kind FetchAborted, unless
// the fetch had already finished. done is not called if the loop stops.
func (f *Fetcher) Start(l *Loop, ctx context.Context, req *Request, done func(*Response, error)) (abort func()) {
	ctx, cancel := context.WithCancel(ctx)
	go func() {
		resp, err := f.Fetch(ctx, req)
		cancel()
		l.Post(func() { done(resp, err) })
	}()
	return cancel
}

// Fetch runs req and returns the response with its body (any goroutine).
// Errors are *FetchError. A status of 4xx or 5xx is a response, not an error.
func (f *Fetcher) Fetch(ctx context.Context, req *Request) (*Response, error) {
	if len(req.URL) >= 5 && strings.EqualFold(req.URL[:5], "data:") {
		return fetchData(req.URL)
	}
	u, err := url.Parse(req.URL)
	if err != nil {
		return nil, fetchErr(FetchBadRequest, "invalid URL %q: %v", req.URL, err)
	}
	switch u.Scheme {
	case "http", "https":
	default:
		return nil, fetchErr(FetchBadRequest, "unsupported URL scheme %q in %q", u.Scheme, u.Redacted())
	}
	if u.Host == "" {
		return nil, fetchErr(FetchBadRequest, "URL %q has no host", req.URL)
	}
	method := strings.ToUpper(req.Method)
	if method == "" {
		method = http.MethodGet
	}
	switch req.Redirect {
	case "", "follow", "error", "manual":
	default:
		return nil, fetchErr(FetchBadRequest, "invalid redirect mode %q", req.Redirect)
	}
	if err := f.policy().Check(ctx, u); err != nil {
		return nil, &FetchError{Kind: FetchDenied, Err: err}
	}

	timeout := f.Timeout
	if timeout <= 0 {
		timeout = DefaultFetchTimeout
	}
	if req.Timeout > 0 && req.Timeout < timeout {
		timeout = req.Timeout
	}
	ctx, cancel := context.WithTimeoutCause(ctx, timeout, errFetchTimeout)
	defer cancel()

	var body io.Reader
	if req.Body != nil {
		body = bytes.NewReader(req.Body)
	}
	hreq, err := http.NewRequestWithContext(ctx, method, u.String(), body)
	if err != nil {
		return nil, fetchErr(FetchBadRequest, "fetch %s: %v", u.Redacted(), err)
	}
	for _, kv := range req.Header {
		switch strings.ToLower(kv[0]) {
		case "host", "content-length":
			continue
		}
		hreq.Header.Add(kv[0], kv[1])
	}
	if hreq.Header.Get("User-Agent") == "" {
		ua := f.UserAgent
		if ua == "" {
			ua = "wasmpy"
		}
		hreq.Header.Set("User-Agent", ua)
	}

	redirected := false
	client := &http.Client{
		Transport: f.transport(),
		CheckRedirect: func(r *http.Request, via []*http.Request) error {
			switch req.Redirect {
			case "error":
				return fetchErr(FetchNetwork, "redirect to %s refused (redirect mode \"error\")", r.URL.Redacted())
			case "manual":
				return http.ErrUseLastResponse
			}
			if len(via) >= maxRedirects {
				return fetchErr(FetchNetwork, "too many redirects (%d)", len(via))
			}
			if err := f.policy().Check(r.Context(), r.URL); err != nil {
				return &FetchError{Kind: FetchDenied, Err: err}
			}
			redirected = true
			return nil
		},
	}
	hresp, err := client.Do(hreq)
	if err != nil {
		return nil, f.classify(ctx, u, err)
	}
	defer hresp.Body.Close()
	if bodyless(hresp.StatusCode) && hresp.Header.Get("Content-Length") != "" && hresp.Header.Get("Content-Length") != "0" {
		// A server that sends a body after a 204/304 leaves bytes that the
		// next request on the kept-alive connection would read as its
		// response: drop the connection (now idle) instead of reusing it.
		if ci, ok := client.Transport.(interface{ CloseIdleConnections() }); ok {
			ci.CloseIdleConnections()
		}
	}

	limit := f.MaxResponseBytes
	if limit <= 0 {
		limit = DefaultMaxResponseBytes
	}
	if hresp.ContentLength > limit {
		return nil, fetchErr(FetchTooLarge, "response of %s is %d bytes, over the limit of %d", u.Redacted(), hresp.ContentLength, limit)
	}
	data, err := io.ReadAll(io.LimitReader(hresp.Body, limit+1))
	if err != nil {
		return nil, f.classify(ctx, u, err)
	}
	if int64(len(data)) > limit {
		return nil, fetchErr(FetchTooLarge, "response of %s is over the limit of %d bytes", u.Redacted(), limit)
	}
	resp := &Response{
		Status:     hresp.StatusCode,
		StatusText: statusText(hresp),
		URL:        hresp.Request.URL.String(),
		Redirected: redirected,
		Type:       "basic",
		Header:     flatten(hresp.Header),
		Body:       data,
	}
	if req.Redirect == "manual" && hresp.StatusCode >= 300 && hresp.StatusCode < 400 && hresp.Header.Get("Location") != "" {
		resp.Type = "opaqueredirect"
	}
	return resp, nil
}

var errFetchTimeout = errors.New("fetch timed out")

// bodyless reports whether a response with this status has no body whatever
// its headers say (RFC 9110: 1xx, 204, 304).
func bodyless(status int) bool {
	return status/100 == 1 || status == http.StatusNoContent || status == http.StatusNotModified
}

// classify turns a net/http error into a FetchError.
func (f *Fetcher) classify(ctx context.Context, u *url.URL, err error) error {
	var fe *FetchError
	if errors.As(err, &fe) {
		return fe
	}
	if errors.Is(context.Cause(ctx), errFetchTimeout) {
		return fetchErr(FetchTimeout, "fetch %s: timed out", u.Redacted())
	}
	if errors.Is(err, context.Canceled) || errors.Is(ctx.Err(), context.Canceled) {
		return fetchErr(FetchAborted, "fetch %s: aborted", u.Redacted())
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return fetchErr(FetchTimeout, "fetch %s: %v", u.Redacted(), err)
	}
	return &FetchError{Kind: FetchNetwork, Err: fmt.Errorf("fetch %s: %w", u.Redacted(), unwrapURLError(err))}
}

func unwrapURLError(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}

func statusText(r *http.Response) string {
	if _, after, ok := strings.Cut(r.Status, " "); ok {
		return after
	}
	return http.StatusText(r.StatusCode)
}

func flatten(h http.Header) [][2]string {
	out := make([][2]string, 0, len(h))
	for k, vs := range h {
		out = append(out, [2]string{strings.ToLower(k), strings.Join(vs, ", ")})
	}
	sort.Slice(out, func(i, j int) bool { return out[i][0] < out[j][0] })
	return out
}

// fetchData answers a data: URL (RFC 2397) without the network.
func fetchData(raw string) (*Response, error) {
	rest := raw[len("data:"):]
	meta, payload, ok := strings.Cut(rest, ",")
	if !ok {
		return nil, fetchErr(FetchBadRequest, "invalid data: URL (no comma)")
	}
	meta = strings.TrimSpace(meta)
	isBase64 := false
	if m, found := strings.CutSuffix(strings.ToLower(meta), ";base64"); found {
		isBase64 = true
		meta = meta[:len(m)]
	}
	if meta == "" || strings.HasPrefix(meta, ";") {
		meta = "text/plain;charset=US-ASCII" + meta
	}
	if i := strings.IndexByte(payload, '#'); i >= 0 {
		payload = payload[:i]
	}
	decoded, err := url.PathUnescape(payload)
	if err != nil {
		return nil, fetchErr(FetchBadRequest, "invalid data: URL: %v", err)
	}
	body := []byte(decoded)
	if isBase64 {
		clean := strings.Map(func(r rune) rune {
			if r == ' ' || r == '\t' || r == '\n' || r == '\r' || r == '\f' {
				return -1
			}
			return r
		}, decoded)
		clean = strings.TrimRight(clean, "=")
		body, err = base64.RawStdEncoding.DecodeString(clean)
		if err != nil {
			return nil, fetchErr(FetchBadRequest, "invalid base64 in data: URL: %v", err)
		}
	}
	return &Response{
		Status:     200,
		StatusText: "OK",
		URL:        raw,
		Type:       "basic",
		Header:     [][2]string{{"content-type", meta}},
		Body:       body,
	}, nil
}
