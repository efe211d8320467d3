package loop

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// fixture is an HTTP server on 127.0.0.1 for the fetch tests.
func fixture(t *testing.T) *httptest.Server {
	t.Helper()
	mux := http.NewServeMux()
	mux.HandleFunc("/status/{code}", func(w http.ResponseWriter, r *http.Request) {
		var code int
		fmt.Sscan(r.PathValue("code"), &code)
		w.WriteHeader(code)
		fmt.Fprintf(w, "status %d", code)
	})
	mux.HandleFunc("/echo", func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		w.Header().Add("X-Multi", "a")
		w.Header().Add("X-Multi", "b")
		w.Header().Set("X-Method", r.Method)
		w.Header().Set("X-Got-Header", r.Header.Get("X-Test"))
		w.Header().Set("X-User-Agent", r.UserAgent())
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		fmt.Fprintf(w, "%s %s", r.Method, body)
	})
	mux.HandleFunc("/redirect", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, r.URL.Query().Get("to"), http.StatusFound)
	})
	mux.HandleFunc("/final", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "final") })
	mux.HandleFunc("/big", func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Get("chunked") == "" {
			w.Header().Set("Content-Length", "2000")
		}
		w.Write([]byte(strings.Repeat("x", 1000)))
		w.(http.Flusher).Flush()
		w.Write([]byte(strings.Repeat("y", 1000)))
	})
	mux.HandleFunc("/hang", func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-time.After(10 * time.Second):
		}
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv
}

func kindOf(err error) FetchErrorKind {
	var fe *FetchError
	if errors.As(err, &fe) {
		return fe.Kind
	}
	return ""
}

func TestFetch(t *testing.T) {
	srv := fixture(t)
	base := srv.URL
	local := AllowHosts("127.0.0.1")
	var checks atomic.Int32
	counting := PolicyFunc(func(ctx context.Context, u *url.URL) error {
		checks.Add(1)
		return local.Check(ctx, u)
	})
	localhostURL := strings.Replace(base, "127.0.0.1", "localhost", 1)
	tests := []struct {
		name       string
		f          *Fetcher
		req        Request
		wantStatus int
		wantText   string
		wantBody   string
		wantURL    string
		redirected bool
		wantHeader map[string]string
		wantKind   FetchErrorKind
		wantChecks int32
	}{
		{name: "200", req: Request{URL: base + "/status/200"}, wantStatus: 200, wantText: "OK", wantBody: "status 200"},
		{name: "404 is a response", req: Request{URL: base + "/status/404"}, wantStatus: 404, wantText: "Not Found", wantBody: "status 404"},
		{name: "500 is a response", req: Request{URL: base + "/status/500"}, wantStatus: 500, wantText: "Internal Server Error"},
		{
			name:       "headers both ways",
			req:        Request{URL: base + "/echo", Header: [][2]string{{"X-Test", "hello"}, {"Host", "evil"}}},
			wantStatus: 200, wantBody: "GET ",
			wantHeader: map[string]string{"x-multi": "a, b", "x-got-header": "hello", "x-user-agent": "wasmpy", "content-type": "text/plain; charset=utf-8"},
		},
		{
			name: "POST body", req: Request{Method: "post", URL: base + "/echo", Body: []byte(`{"a": 1}`)},
			wantStatus: 200, wantBody: `POST {"a": 1}`, wantHeader: map[string]string{"x-method": "POST"},
		},
		{
			name: "redirect followed, policy checked twice", f: &Fetcher{Policy: counting},
			req:        Request{URL: base + "/redirect?to=/final"},
			wantStatus: 200, wantBody: "final", wantURL: base + "/final", redirected: true, wantChecks: 2,
		},
		{
			name: "redirect to a host the policy refuses", f: &Fetcher{Policy: counting},
			req:      Request{URL: base + "/redirect?to=" + url.QueryEscape(localhostURL+"/final")},
			wantKind: FetchDenied, wantChecks: 2,
		},
		{name: "redirect mode error", req: Request{URL: base + "/redirect?to=/final", Redirect: "error"}, wantKind: FetchNetwork},
		{
			name: "redirect mode manual", req: Request{URL: base + "/redirect?to=/final", Redirect: "manual"},
			wantStatus: 302, wantHeader: map[string]string{"location": "/final"},
		},
		{name: "no policy denies", f: &Fetcher{}, req: Request{URL: base + "/status/200"}, wantKind: FetchDenied},
		{name: "policy refuses localhost", req: Request{URL: localhostURL + "/status/200"}, wantKind: FetchDenied},
		{name: "unsupported scheme", req: Request{URL: "file:///etc/passwd"}, wantKind: FetchBadRequest},
		{name: "bad redirect mode", req: Request{URL: base + "/final", Redirect: "sideways"}, wantKind: FetchBadRequest},
		{name: "size limit by Content-Length", f: &Fetcher{Policy: local, MaxResponseBytes: 1500}, req: Request{URL: base + "/big"}, wantKind: FetchTooLarge},
		{name: "size limit while reading", f: &Fetcher{Policy: local, MaxResponseBytes: 1500}, req: Request{URL: base + "/big?chunked=1"}, wantKind: FetchTooLarge},
		{name: "size at the limit", f: &Fetcher{Policy: local, MaxResponseBytes: 2000}, req: Request{URL: base + "/big"}, wantStatus: 200},
		{name: "timeout", f: &Fetcher{Policy: local, Timeout: 100 * time.Millisecond}, req: Request{URL: base + "/hang"}, wantKind: FetchTimeout},
		{name: "request timeout", req: Request{URL: base + "/hang", Timeout: 50 * time.Millisecond}, wantKind: FetchTimeout},
		{name: "connection refused", req: Request{URL: "http://127.0.0.1:1/"}, wantKind: FetchNetwork},
		{name: "data: text", f: &Fetcher{}, req: Request{URL: "data:,Hello%2C%20World%21"}, wantStatus: 200, wantBody: "Hello, World!",
			wantHeader: map[string]string{"content-type": "text/plain;charset=US-ASCII"}},
		{name: "data: base64", f: &Fetcher{}, req: Request{URL: "data:application/octet-stream;base64,SGVs bG8="}, wantStatus: 200, wantBody: "Hello",
			wantHeader: map[string]string{"content-type": "application/octet-stream"}},
		{name: "data: bad base64", f: &Fetcher{}, req: Request{URL: "data:;base64,!!!"}, wantKind: FetchBadRequest},
		{name: "data: no comma", f: &Fetcher{}, req: Request{URL: "data:text/plain"}, wantKind: FetchBadRequest},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := tc.f
			if f == nil {
				f = &Fetcher{Policy: local}
			}
			checks.Store(0)
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			resp, err := f.Fetch(ctx, &tc.req)
			if tc.wantChecks != 0 && checks.Load() != tc.wantChecks {
				t.Errorf("policy checked %d times, want %d", checks.Load(), tc.wantChecks)
			}
			if tc.wantKind != "" {
				if kindOf(err) != tc.wantKind {
					t.Fatalf("error %v (kind %q), want kind %q", err, kindOf(err), tc.wantKind)
				}
				return
			}
			if err != nil {
				t.Fatalf("Fetch: %v", err)
			}
			if resp.Status != tc.wantStatus {
				t.Errorf("status %d, want %d", resp.Status, tc.wantStatus)
			}
			if tc.wantText != "" && resp.StatusText != tc.wantText {
				t.Errorf("status text %q, want %q", resp.StatusText, tc.wantText)
			}
			if tc.wantBody != "" && string(resp.Body) != tc.wantBody {
				t.Errorf("body %q, want %q", resp.Body, tc.wantBody)
			}
			if tc.wantURL != "" && resp.URL != tc.wantURL {
				t.Errorf("url %q, want %q", resp.URL, tc.wantURL)
			}
			if resp.Redirected != tc.redirected {
				t.Errorf("redirected %v, want %v", resp.Redirected, tc.redirected)
			}
			got := map[string]string{}
			for _, kv := range resp.Header {
				got[kv[0]] = kv[1]
			}
			for k, v := range tc.wantHeader {
				if got[k] != v {
					t.Errorf("header %q = %q, want %q", k, got[k], v)
				}
			}
		})
	}
}

func TestFetchStartAndAbort(t *testing.T) {
	srv := fixture(t)
	l := start(t)
	ctx := ctxT(t, 5*time.Second)
	f := &Fetcher{Policy: AllowHosts("127.0.0.1")}

	type outcome struct {
		resp   *Response
		err    error
		onLoop bool
	}
	got := make(chan outcome, 2)
	l.Do(ctx, func() {
		f.Start(l, ctx, &Request{URL: srv.URL + "/final"}, func(r *Response, err error) {
			got <- outcome{r, err, l.OnLoop()}
		})
	})
	select {
	case o := <-got:
		if o.err != nil || string(o.resp.Body) != "final" || !o.onLoop {
			t.Errorf("Start: %v %v, done on the loop: %v", o.resp, o.err, o.onLoop)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no completion")
	}

	var abort func()
	t0 := time.Now()
	l.Do(ctx, func() {
		abort = f.Start(l, ctx, &Request{URL: srv.URL + "/hang"}, func(r *Response, err error) {
			got <- outcome{r, err, l.OnLoop()}
		})
	})
	time.AfterFunc(50*time.Millisecond, abort)
	select {
	case o := <-got:
		if kindOf(o.err) != FetchAborted || !o.onLoop {
			t.Errorf("aborted fetch: %v (kind %q), on loop %v", o.err, kindOf(o.err), o.onLoop)
		}
		if d := time.Since(t0); d > 2*time.Second {
			t.Errorf("abort took %v", d)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("abort did not complete the fetch")
	}
}

// A server that sends a body after a 204 (as the conformance fixture's
// /status/204 does) must not break the next request on the kept-alive
// connection: the body arrives as a second write, after the headers.
func TestFetchAfterNoContentWithBody(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func(c net.Conn) {
				defer c.Close()
				br := bufio.NewReader(c)
				for {
					req, err := http.ReadRequest(br)
					if err != nil {
						return
					}
					io.Copy(io.Discard, req.Body)
					if req.URL.Path == "/204" {
						io.WriteString(c, "HTTP/1.1 204 No Content\r\nContent-Length: 10\r\n\r\n")
						time.Sleep(20 * time.Millisecond)
						io.WriteString(c, "status 204")
					} else {
						io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
					}
				}
			}(c)
		}
	}()
	base := "http://" + ln.Addr().String()
	f := &Fetcher{Policy: AllowHosts("127.0.0.1")}
	for i := 0; i < 3; i++ {
		r, err := f.Fetch(context.Background(), &Request{URL: base + "/204"})
		if err != nil || r.Status != 204 {
			t.Fatalf("204: %v %v", r, err)
		}
		r, err = f.Fetch(context.Background(), &Request{URL: base + "/ok"})
		if err != nil || r.Status != 200 || string(r.Body) != "ok" {
			t.Fatalf("request after 204: %v %v", r, err)
		}
	}
}
