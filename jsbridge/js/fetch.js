// fetch, Headers, Request and Response on top of the World's FetchFunc (Go,
// see fetch.go). Responses arrive whole (the body is buffered), so body
// methods resolve at once. `N` holds the natives.
(function (N) {
  "use strict";
  const G = globalThis;
  const define = (obj, name, value) =>
    Object.defineProperty(obj, name, { value, writable: true, configurable: true, enumerable: false });
  const enc = new TextEncoder();
  const dec = new TextDecoder();

  function normName(name) {
    name = String(name);
    if (!/^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/.test(name)) throw new TypeError(`Invalid header name: "${name}"`);
    return name.toLowerCase();
  }
  const normValue = (v) => String(v).replace(/^[\t\n\r ]+|[\t\n\r ]+$/g, "");

  class Headers {
    #map = new Map();
    constructor(init) {
      if (init === undefined || init === null) return;
      if (init instanceof Headers) {
        for (const [k, v] of init) this.append(k, v);
      } else if (typeof init[Symbol.iterator] === "function") {
        for (const pair of init) {
          const p = Array.from(pair);
          if (p.length !== 2) throw new TypeError("Header pairs must contain exactly two items");
          this.append(p[0], p[1]);
        }
      } else if (typeof init === "object") {
        for (const k of Object.keys(init)) this.append(k, init[k]);
      } else {
        throw new TypeError("Invalid headers");
      }
    }
    append(name, value) {
      const k = normName(name);
      const v = normValue(value);
      const old = this.#map.get(k);
      this.#map.set(k, old === undefined ? v : k === "set-cookie" ? old + "\n" + v : old + ", " + v);
    }
    set(name, value) { this.#map.set(normName(name), normValue(value)); }
    get(name) { const v = this.#map.get(normName(name)); return v === undefined ? null : v.replace(/\n/g, ", "); }
    has(name) { return this.#map.has(normName(name)); }
    delete(name) { this.#map.delete(normName(name)); }
    getSetCookie() { const v = this.#map.get("set-cookie"); return v === undefined ? [] : v.split("\n"); }
    forEach(cb, thisArg) { for (const [k, v] of this) cb.call(thisArg, v, k, this); }
    *entries() { for (const k of Array.from(this.#map.keys()).sort()) yield [k, this.get(k)]; }
    *keys() { for (const [k] of this.entries()) yield k; }
    *values() { for (const [, v] of this.entries()) yield v; }
    [Symbol.iterator]() { return this.entries(); }
  }
  define(Headers.prototype, Symbol.toStringTag, "Headers");

  function bodyBytes(body) {
    if (body === undefined || body === null) return undefined;
    if (typeof body === "string") return enc.encode(body);
    if (body instanceof ArrayBuffer) return new Uint8Array(body.slice(0));
    if (ArrayBuffer.isView(body)) return new Uint8Array(body.buffer.slice(body.byteOffset, body.byteOffset + body.byteLength));
    if (body instanceof URLSearchParams) return enc.encode(body.toString());
    return enc.encode(String(body));
  }
  function bodyType(body) {
    if (typeof body === "string") return "text/plain;charset=UTF-8";
    if (body instanceof URLSearchParams) return "application/x-www-form-urlencoded;charset=UTF-8";
    return null;
  }

  class Body {
    #bytes; #used = false;
    _setBody(bytes) { this.#bytes = bytes; }
    get bodyUsed() { return this.#used; }
    get body() { return null; }
    #take() {
      if (this.#used) return Promise.reject(new TypeError("Body is unusable: Body has already been read"));
      this.#used = true;
      return Promise.resolve(this.#bytes || new Uint8Array(0));
    }
    arrayBuffer() { return this.#take().then((b) => b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength)); }
    bytes() { return this.#take().then((b) => new Uint8Array(b)); }
    text() { return this.#take().then((b) => dec.decode(b)); }
    json() { return this.text().then((t) => JSON.parse(t)); }
    _peek() { return this.#bytes; }
  }

  class Request extends Body {
    #url; #method; #headers; #signal; #redirect;
    constructor(input, init = {}) {
      super();
      let url = input instanceof Request ? input.url : String(input);
      try { url = new URL(url).href; } catch (e) { throw new TypeError(`Failed to parse URL from ${url}`); }
      this.#url = url;
      this.#method = String(init.method || (input instanceof Request ? input.method : "GET")).toUpperCase();
      this.#headers = new Headers(init.headers || (input instanceof Request ? input.headers : undefined));
      this.#signal = init.signal || (input instanceof Request ? input.signal : undefined) || null;
      this.#redirect = init.redirect || "follow";
      let body = init.body;
      if (body === undefined && input instanceof Request) body = input._peek();
      if (body !== undefined && body !== null && (this.#method === "GET" || this.#method === "HEAD")) {
        throw new TypeError("Request with GET/HEAD method cannot have body.");
      }
      const t = bodyType(body);
      if (t && !this.#headers.has("content-type")) this.#headers.set("content-type", t);
      this._setBody(bodyBytes(body));
    }
    get url() { return this.#url; }
    get method() { return this.#method; }
    get headers() { return this.#headers; }
    get signal() { return this.#signal; }
    get redirect() { return this.#redirect; }
    clone() { return new Request(this); }
  }
  define(Request.prototype, Symbol.toStringTag, "Request");

  class Response extends Body {
    #status; #statusText; #headers; #url; #redirected; #type;
    constructor(body = null, init = {}) {
      super();
      this.#status = init.status === undefined ? 200 : Number(init.status);
      if (this.#status < 200 || this.#status > 599) throw new RangeError(`init["status"] must be in the range of 200 to 599, inclusive.`);
      this.#statusText = init.statusText === undefined ? "" : String(init.statusText);
      this.#headers = new Headers(init.headers);
      const t = bodyType(body);
      if (t && !this.#headers.has("content-type")) this.#headers.set("content-type", t);
      this.#url = init._url || "";
      this.#redirected = !!init._redirected;
      this.#type = init._type || "default";
      this._setBody(bodyBytes(body));
    }
    get status() { return this.#status; }
    get statusText() { return this.#statusText; }
    get ok() { return this.#status >= 200 && this.#status < 300; }
    get headers() { return this.#headers; }
    get url() { return this.#url; }
    get redirected() { return this.#redirected; }
    get type() { return this.#type; }
    clone() {
      if (this.bodyUsed) throw new TypeError("Response.clone: Body has already been consumed.");
      return new Response(this._peek(), {
        status: this.#status, statusText: this.#statusText, headers: this.#headers,
        _url: this.#url, _redirected: this.#redirected, _type: this.#type,
      });
    }
    static json(data, init = {}) {
      const headers = new Headers(init.headers);
      if (!headers.has("content-type")) headers.set("content-type", "application/json");
      return new Response(JSON.stringify(data), Object.assign({}, init, { headers }));
    }
    static error() { const r = new Response(null, { status: 200 }); return r; }
  }
  define(Response.prototype, Symbol.toStringTag, "Response");

  function fetch(input, init = {}) {
    let req;
    try { req = new Request(input, init); } catch (e) { return Promise.reject(e); }
    const signal = req.signal;
    if (signal && signal.aborted) return Promise.reject(signal.reason);
    return new Promise((resolve, reject) => {
      let settled = false;
      const headers = [];
      for (const [k, v] of req.headers) headers.push([k, v]);
      let abort = null;
      const onAbort = () => {
        if (settled) return;
        settled = true;
        if (abort) abort();
        reject(signal.reason);
      };
      abort = N.fetch(req.method, req.url, headers, req._peek(), req.redirect, (err, r) => {
        if (signal) signal.removeEventListener("abort", onAbort);
        if (settled) return;
        settled = true;
        if (err !== null) {
          if (err.kind === "aborted" && signal) return reject(signal.reason);
          const e = new TypeError("fetch failed");
          e.cause = new Error(err.message);
          e.cause.code = err.kind;
          return reject(e);
        }
        const res = new Response(null, {
          status: r.status < 200 ? 200 : r.status, statusText: r.statusText, headers: r.headers,
          _url: r.url, _redirected: r.redirected, _type: r.type || "basic",
        });
        res._setBody(r.body);
        resolve(res);
      });
      if (signal) signal.addEventListener("abort", onAbort);
    });
  }

  define(G, "Headers", Headers);
  define(G, "Request", Request);
  define(G, "Response", Response);
  define(G, "fetch", fetch);
});
