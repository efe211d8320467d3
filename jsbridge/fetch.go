package jsbridge

import (
	_ "embed"
	"errors"

	"github.com/dop251/goja"
)

//go:embed js/fetch.js
var fetchJS string

// FetchRequest is a request made by JavaScript's fetch (the body whole).
type FetchRequest struct {
	Method   string
	URL      string
	Header   [][2]string
	Body     []byte
	Redirect string // "follow", "error" or "manual"
}

// FetchResponse is a complete response.
type FetchResponse struct {
	Status     int
	StatusText string
	URL        string // after redirects
	Redirected bool
	Type       string // "basic" or "opaqueredirect"
	Header     [][2]string
	Body       []byte
}

// FetchError lets a FetchFunc say why a request failed; Kind is one of
// "denied", "aborted", "timeout", "too_large", "bad_request", "network"
// (loop.FetchError has the same kinds). Any other error counts as "network".
type FetchError interface {
	error
	FetchKind() string
}

// NewFetchError wraps err with a kind (see FetchError), for FetchFunc
// adapters: NewFetchError(string(fe.Kind), fe) for a *loop.FetchError.
func NewFetchError(kind string, err error) error { return &fetchError{kind, err} }

type fetchError struct {
	kind string
	err  error
}

func (e *fetchError) Error() string     { return e.err.Error() }
func (e *fetchError) Unwrap() error     { return e.err }
func (e *fetchError) FetchKind() string { return e.kind }

// FetchFunc starts a request and calls done once, on the World's goroutine
// (as a macrotask: loop.Fetcher.Start does this), with the response or an
// error; abort cancels the request (done then gets an "aborted" error,
// unless it had finished). The loop's Fetcher adapts to it in a few lines:
//
//	Fetch: func(r jsbridge.FetchRequest, done func(*jsbridge.FetchResponse, error)) func() {
//		return fetcher.Start(l, ctx, &loop.Request{Method: r.Method, URL: r.URL, Header: r.Header, Body: r.Body, Redirect: r.Redirect},
//			func(res *loop.Response, err error) { done(convert(res), err) })
//	}
type FetchFunc func(req FetchRequest, done func(*FetchResponse, error)) (abort func())

// SetFetch installs (or, with nil, removes) the function behind
// globalThis.fetch. Without one, fetch rejects with TypeError("fetch
// failed"), as when the network is unreachable.
func (w *World) SetFetch(f FetchFunc) { w.opts.Fetch = f }

func (w *World) installFetch() error {
	rt := w.rt
	n := rt.NewObject()
	_ = n.Set("fetch", func(c goja.FunctionCall) goja.Value {
		req := FetchRequest{
			Method:   c.Argument(0).String(),
			URL:      c.Argument(1).String(),
			Redirect: c.Argument(4).String(),
		}
		if ho, ok := c.Argument(2).(*goja.Object); ok {
			for _, p := range w.arrayItems(ho) {
				po, ok := p.(*goja.Object)
				if !ok {
					continue
				}
				req.Header = append(req.Header, [2]string{po.Get("0").String(), po.Get("1").String()})
			}
		}
		if bo, ok := c.Argument(3).(*goja.Object); ok {
			req.Body = append([]byte(nil), w.bufferBytes(bo)...)
		}
		cb, ok := goja.AssertFunction(c.Argument(5))
		if !ok {
			panic(rt.NewTypeError("fetch: no callback"))
		}
		finish := func(res *FetchResponse, err error) {
			w.runTask(func() error {
				if err != nil {
					kind := "network"
					var fe FetchError
					if errors.As(err, &fe) {
						kind = fe.FetchKind()
					}
					e := rt.NewObject()
					_ = e.Set("kind", kind)
					_ = e.Set("message", err.Error())
					_, cerr := cb(goja.Undefined(), e, goja.Undefined())
					return cerr
				}
				r := rt.NewObject()
				_ = r.Set("status", res.Status)
				_ = r.Set("statusText", res.StatusText)
				_ = r.Set("url", res.URL)
				_ = r.Set("redirected", res.Redirected)
				_ = r.Set("type", res.Type)
				hs := make([]interface{}, 0, len(res.Header))
				for _, h := range res.Header {
					hs = append(hs, rt.NewArray(h[0], h[1]))
				}
				_ = r.Set("headers", rt.NewArray(hs...))
				_ = r.Set("body", w.newUint8Array(append([]byte(nil), res.Body...)))
				_, cerr := cb(goja.Undefined(), goja.Null(), r)
				return cerr
			})
		}
		if w.opts.Fetch == nil {
			w.Post(func() error {
				finish(nil, errors.New("networking is not available in this kernel"))
				return nil
			})
			return goja.Undefined()
		}
		abort := w.opts.Fetch(req, finish)
		if abort == nil {
			return goja.Undefined()
		}
		return rt.ToValue(func(goja.FunctionCall) goja.Value {
			abort()
			return goja.Undefined()
		})
	})
	_, err := runModule(rt, "fetch.js", fetchJS, n)
	return err
}
