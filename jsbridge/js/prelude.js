// The global environment of a wasmpy JavaScript world: what a browser or Node
// provides and goja does not. Evaluated once per World; `N` holds the natives
// (Go functions, see globals.go) and is not reachable afterwards.
(function (N) {
  "use strict";
  const G = globalThis;
  const define = (obj, name, value) =>
    Object.defineProperty(obj, name, { value, writable: true, configurable: true, enumerable: false });

  // ---- well-known symbols goja lacks ----
  if (typeof Symbol.asyncIterator !== "symbol") {
    Object.defineProperty(Symbol, "asyncIterator", { value: Symbol("Symbol.asyncIterator") });
  }
  for (const name of ["dispose", "asyncDispose"]) {
    if (typeof Symbol[name] !== "symbol") {
      Object.defineProperty(Symbol, name, { value: Symbol("Symbol." + name) });
    }
  }
  define(G, "global", G);
  define(G, "self", G);

  // ---- DOMException ----
  const DOMEXC_CODES = {
    IndexSizeError: 1, HierarchyRequestError: 3, WrongDocumentError: 4, InvalidCharacterError: 5,
    NoModificationAllowedError: 7, NotFoundError: 8, NotSupportedError: 9, InvalidStateError: 11,
    SyntaxError: 12, InvalidModificationError: 13, NamespaceError: 14, InvalidAccessError: 15,
    TypeMismatchError: 17, SecurityError: 18, NetworkError: 19, AbortError: 20, URLMismatchError: 21,
    QuotaExceededError: 22, TimeoutError: 23, InvalidNodeTypeError: 24, DataCloneError: 25,
  };
  class DOMException extends Error {
    constructor(message = "", name = "Error") {
      super(message);
      define(this, "name", String(name));
      define(this, "message", String(message));
    }
    get code() { return DOMEXC_CODES[this.name] || 0; }
  }
  define(G, "DOMException", DOMException);

  // ---- console ----
  const hasOwn = (o, k) => Object.prototype.hasOwnProperty.call(o, k);
  const tagOf = (o) => Object.prototype.toString.call(o).slice(8, -1);
  const isIdent = (k) => /^[A-Za-z_$][A-Za-z0-9_$]*$/.test(k);
  function quote(s) {
    const q = s.includes("'") && !s.includes('"') ? '"' : "'";
    return q + s.replace(/\\/g, "\\\\").replace(/\n/g, "\\n").replace(q === "'" ? /'/g : /"/g, "\\" + q) + q;
  }
  function ctorName(o) {
    try {
      const p = Object.getPrototypeOf(o);
      if (p === null) return null;
      const c = p.constructor;
      return typeof c === "function" && typeof c.name === "string" ? c.name : "";
    } catch (e) { return ""; }
  }
  function fnLabel(f) {
    let src = "";
    try { src = Function.prototype.toString.call(f); } catch (e) {}
    const name = f.name;
    if (/^class\b/.test(src)) return name ? `[class ${name}]` : "[class (anonymous)]";
    return name ? `[Function: ${name}]` : "[Function (anonymous)]";
  }
  function wrapList(open, items, close, indent) {
    if (items.length === 0) return open.trimEnd() + close.trimStart();
    const oneLine = open + items.join(", ") + close;
    if (oneLine.length <= 72 && !oneLine.includes("\n")) return oneLine;
    const pad = "  ".repeat(indent + 1);
    return open.trimEnd() + "\n" + items.map((s) => pad + s).join(",\n") + "\n" + "  ".repeat(indent) + close.trimStart();
  }
  function inspect(v, depth, seen, indent, top) {
    switch (typeof v) {
      case "string": return top ? v : quote(v);
      case "number": return Object.is(v, -0) ? "-0" : String(v);
      case "bigint": return String(v) + "n";
      case "boolean": return String(v);
      case "undefined": return "undefined";
      case "symbol": return v.toString();
    }
    if (v === null) return "null";
    if (N.isPyProxy(v)) {
      let s;
      try { s = v.toString(); } catch (e) { s = "<destroyed>"; }
      return top ? s : `[PyProxy ${s}]`;
    }
    if (typeof v === "function") {
      const own = Object.keys(v);
      const label = fnLabel(v);
      if (own.length === 0 || depth < 0) return label;
    }
    if (seen.includes(v)) return "[Circular *1]";
    const tag = tagOf(v);
    if (v instanceof Error) {
      const s = typeof v.stack === "string" && v.stack ? v.stack : `${v.name}: ${v.message}`;
      return s.replace(/\n+$/, "");
    }
    if (tag === "Date") {
      return isNaN(v.getTime()) ? "Invalid Date" : v.toISOString();
    }
    if (tag === "RegExp") return String(v);
    if (tag === "Promise") return "Promise { <pending> }";
    if (tag === "Symbol" || tag === "Number" || tag === "String" || tag === "Boolean" || tag === "BigInt") {
      return `[${tag}: ${inspect(v.valueOf(), depth, seen, indent, false)}]`;
    }
    const name = ctorName(v);
    if (depth < 0) {
      if (Array.isArray(v)) return "[Array]";
      return `[${name || "Object"}]`;
    }
    seen = seen.concat([v]);
    const sub = (x) => inspect(x, depth - 1, seen, indent + 1, false);
    if (Array.isArray(v)) {
      const items = [];
      const n = Math.min(v.length, 100);
      let holes = 0;
      for (let i = 0; i < n; i++) {
        if (!(i in v)) { holes++; continue; }
        if (holes) { items.push(`<${holes} empty item${holes > 1 ? "s" : ""}>`); holes = 0; }
        items.push(sub(v[i]));
      }
      if (holes) items.push(`<${holes} empty item${holes > 1 ? "s" : ""}>`);
      if (v.length > 100) items.push(`... ${v.length - 100} more items`);
      for (const k of Object.keys(v)) {
        if (!/^\d+$/.test(k)) items.push(`${isIdent(k) ? k : quote(k)}: ${sub(v[k])}`);
      }
      const prefix = name && name !== "Array" ? `${name}(${v.length}) ` : "";
      return wrapList(prefix + "[ ", items, " ]", indent);
    }
    if (ArrayBuffer.isView(v) && tag !== "DataView") {
      const items = Array.from(v.subarray(0, 100), (x) => inspect(x, 0, seen, 0, false));
      if (v.length > 100) items.push(`... ${v.length - 100} more items`);
      return wrapList(`${tag}(${v.length}) [ `, items, " ]", indent);
    }
    if (tag === "ArrayBuffer") {
      const bytes = Array.from(new Uint8Array(v, 0, Math.min(v.byteLength, 50)), (b) => b.toString(16).padStart(2, "0"));
      return `ArrayBuffer { [Uint8Contents]: <${bytes.join(" ")}${v.byteLength > 50 ? " ..." : ""}>, byteLength: ${v.byteLength} }`;
    }
    if (tag === "Map") {
      const items = [];
      for (const [k, x] of v) items.push(`${sub(k)} => ${sub(x)}`);
      return wrapList(`Map(${v.size}) { `, items, " }", indent);
    }
    if (tag === "Set") {
      const items = [];
      for (const x of v) items.push(sub(x));
      return wrapList(`Set(${v.size}) { `, items, " }", indent);
    }
    const items = [];
    for (const k of Object.keys(v)) {
      let x;
      try { x = v[k]; } catch (e) { x = "[Getter]"; }
      items.push(`${isIdent(k) ? k : quote(k)}: ${sub(x)}`);
    }
    for (const s of Object.getOwnPropertySymbols(v)) {
      const d = Object.getOwnPropertyDescriptor(v, s);
      if (d && d.enumerable) items.push(`[${s.toString()}]: ${sub(v[s])}`);
    }
    let prefix = "";
    if (typeof v === "function") prefix = fnLabel(v) + " ";
    else if (name === null) prefix = "[Object: null prototype] ";
    else if (name && name !== "Object") prefix = name + " ";
    else if (tag !== "Object" && tag) prefix = `Object [${tag}] `;
    return wrapList(prefix + "{ ", items, " }", indent);
  }
  function format(args) {
    if (args.length === 0) return "";
    let out = "";
    let rest = args;
    if (typeof args[0] === "string" && args[0].includes("%")) {
      const f = args[0];
      let i = 1;
      let j = 0;
      for (let k = 0; k < f.length; k++) {
        if (f[k] !== "%" || k + 1 >= f.length) continue;
        const c = f[k + 1];
        let rep;
        if (c === "%") { rep = "%"; }
        else if (i >= args.length && "sdifjoOc".includes(c)) { continue; }
        else if (c === "s") { const a = args[i++]; rep = typeof a === "string" ? a : typeof a === "bigint" ? a + "n" : (typeof a === "object" && a !== null) ? inspect(a, 1, [], 0, false) : String(a); }
        else if (c === "d" || c === "i") { const a = args[i++]; rep = typeof a === "bigint" ? a + "n" : typeof a === "symbol" ? "NaN" : String(c === "i" ? parseInt(a) : Number(a)); }
        else if (c === "f") { const a = args[i++]; rep = typeof a === "symbol" ? "NaN" : String(parseFloat(a)); }
        else if (c === "j") { try { rep = JSON.stringify(args[i++]); } catch (e) { rep = "[Circular]"; } }
        else if (c === "o" || c === "O") { rep = inspect(args[i++], 4, [], 0, false); }
        else if (c === "c") { i++; rep = ""; }
        else continue;
        out += f.slice(j, k) + rep;
        j = k + 2;
        k++;
      }
      out += f.slice(j);
      rest = args.slice(i);
      for (const a of rest) out += " " + inspect(a, 2, [], 0, true);
      return out;
    }
    return args.map((a) => inspect(a, 2, [], 0, true)).join(" ");
  }
  let groupIndent = "";
  const emit = (stream, args) => {
    let text = format(args);
    if (groupIndent) text = text.split("\n").map((l) => groupIndent + l).join("\n");
    N.write(stream, text + "\n");
  };
  const counts = new Map();
  const timersByLabel = new Map();
  function table(data, columns) {
    if (data === null || typeof data !== "object") return emit(1, [data]);
    const rows = [];
    const cols = [];
    let hasValues = false;
    const addCol = (c) => { if (!cols.includes(c)) cols.push(c); };
    const entries = data instanceof Map ? Array.from(data.entries()) : Object.entries(data);
    for (const [k, row] of entries) {
      const r = { key: String(k), cells: new Map() };
      if (row !== null && typeof row === "object" && !(N.isPyProxy(row))) {
        for (const c of Object.keys(row)) { addCol(c); r.cells.set(c, inspect(row[c], 0, [], 0, false)); }
      } else {
        hasValues = true;
        r.value = inspect(row, 0, [], 0, false);
      }
      rows.push(r);
    }
    let header = ["(index)"];
    const useCols = Array.isArray(columns) ? columns.map(String) : cols;
    header = header.concat(useCols);
    if (hasValues) header.push("Values");
    const body = rows.map((r) => {
      const line = [r.key].concat(useCols.map((c) => (r.cells.has(c) ? r.cells.get(c) : "")));
      if (hasValues) line.push(r.value === undefined ? "" : r.value);
      return line;
    });
    const widths = header.map((h, i) => Math.max(h.length, ...body.map((b) => b[i].length)) + 2);
    const line = (l, m, r) => l + widths.map((w) => "─".repeat(w)).join(m) + r;
    const row = (cells) => "│" + cells.map((c, i) => " " + c.padEnd(widths[i] - 1)).join("│") + "│";
    const out = [line("┌", "┬", "┐"), row(header), line("├", "┼", "┤"), ...body.map(row), line("└", "┴", "┘")];
    N.write(1, out.map((l) => groupIndent + l).join("\n") + "\n");
  }
  const consoleObj = {
    log: (...a) => emit(1, a),
    info: (...a) => emit(1, a),
    debug: (...a) => emit(1, a),
    warn: (...a) => emit(2, a),
    error: (...a) => emit(2, a),
    trace: (...a) => {
      let stack = "";
      try { throw new Error(); } catch (e) { stack = String(e.stack || "").split("\n").slice(2).join("\n"); }
      emit(2, ["Trace" + (a.length ? ": " + format(a) : "") + (stack ? "\n" + stack : "")]);
    },
    dir: (o) => N.write(1, groupIndent + inspect(o, 2, [], 0, false) + "\n"),
    table,
    assert: (cond, ...a) => { if (!cond) emit(2, ["Assertion failed" + (a.length ? ": " + format(a) : "")]); },
    count: (label = "default") => { const n = (counts.get(label) || 0) + 1; counts.set(label, n); emit(1, [`${label}: ${n}`]); },
    countReset: (label = "default") => { counts.delete(label); },
    group: (...a) => { if (a.length) emit(1, a); groupIndent += "  "; },
    groupCollapsed: (...a) => { if (a.length) emit(1, a); groupIndent += "  "; },
    groupEnd: () => { groupIndent = groupIndent.slice(2); },
    time: (label = "default") => { timersByLabel.set(label, N.now()); },
    timeLog: (label = "default", ...a) => {
      const t = timersByLabel.get(label);
      if (t !== undefined) emit(1, [`${label}: ${(N.now() - t).toFixed(3)}ms`, ...a]);
    },
    timeEnd: (label = "default") => {
      const t = timersByLabel.get(label);
      if (t !== undefined) { timersByLabel.delete(label); emit(1, [`${label}: ${(N.now() - t).toFixed(3)}ms`]); }
    },
  };
  define(G, "console", consoleObj);
  const reportError = (e) => {
    let s;
    try {
      s = e instanceof Error ? inspect(e, 2, [], 0, true) : inspect(e, 2, [], 0, false);
    } catch (x) { s = String(e); }
    N.write(2, "Uncaught " + s + "\n");
  };
  define(G, "reportError", reportError);

  // ---- timers and microtasks ----
  function timer(repeat) {
    return function (fn, delay, ...args) {
      if (typeof fn !== "function") {
        throw new TypeError(`The "callback" argument must be of type function. Received ${inspect(fn, 0, [], 0, false)}`);
      }
      let ms = Number(delay);
      if (!(ms >= 1 && ms <= 2147483647)) ms = 1;
      return N.setTimer(() => {
        try { fn.apply(undefined, args); } catch (e) { reportError(e); }
      }, ms, repeat);
    };
  }
  const clear = (id) => { if (id !== undefined && id !== null) N.clearTimer(Number(id)); };
  define(G, "setTimeout", timer(false));
  define(G, "setInterval", timer(true));
  define(G, "clearTimeout", clear);
  define(G, "clearInterval", clear);
  define(G, "setImmediate", (fn, ...args) => G.setTimeout(fn, 0, ...args));
  define(G, "clearImmediate", clear);
  const resolved = Promise.resolve();
  define(G, "queueMicrotask", (fn) => {
    if (typeof fn !== "function") throw new TypeError("The \"callback\" argument must be of type function.");
    resolved.then(() => { try { fn(); } catch (e) { reportError(e); } });
  });

  // ---- performance ----
  const timeOrigin = N.timeOrigin();
  define(G, "performance", {
    now: () => N.now(),
    timeOrigin,
    mark() {}, measure() {},
    toJSON() { return { timeOrigin }; },
  });

  // ---- crypto ----
  const INT_ARRAYS = ["Int8Array", "Uint8Array", "Uint8ClampedArray", "Int16Array", "Uint16Array", "Int32Array", "Uint32Array", "BigInt64Array", "BigUint64Array"];
  define(G, "crypto", {
    getRandomValues(a) {
      if (!ArrayBuffer.isView(a) || !INT_ARRAYS.includes(tagOf(a))) {
        throw new DOMException("The data argument must be an integer-type TypedArray", "TypeMismatchError");
      }
      if (a.byteLength > 65536) {
        throw new DOMException(`The ArrayBufferView's byte length (${a.byteLength}) exceeds the number of bytes of entropy available via this API (65536)`, "QuotaExceededError");
      }
      N.randomFill(a);
      return a;
    },
    randomUUID: () => N.randomUUID(),
  });

  // ---- base64 ----
  define(G, "btoa", function btoa(s) {
    if (arguments.length === 0) throw new TypeError("The \"data\" argument must be specified");
    s = String(s);
    for (let i = 0; i < s.length; i++) {
      if (s.charCodeAt(i) > 255) throw new DOMException("Invalid character", "InvalidCharacterError");
    }
    return N.btoa(s);
  });
  define(G, "atob", function atob(s) {
    if (arguments.length === 0) throw new TypeError("The \"data\" argument must be specified");
    const r = N.atob(String(s));
    if (r === null) throw new DOMException("The string to be decoded is not correctly encoded.", "InvalidCharacterError");
    return r;
  });

  // ---- TextEncoder / TextDecoder ----
  class TextEncoder {
    get encoding() { return "utf-8"; }
    encode(s = "") { return N.encodeUTF8(String(s)); }
    encodeInto(s, dest) {
      const bytes = N.encodeUTF8(String(s));
      // Only whole characters are written.
      let n = Math.min(bytes.length, dest.length);
      while (n > 0 && n < bytes.length && (bytes[n] & 0xc0) === 0x80) n--;
      dest.set(bytes.subarray(0, n));
      let read = 0;
      const str = String(s);
      let written = 0;
      for (const ch of str) {
        const cp = ch.codePointAt(0);
        const len = cp < 0x80 ? 1 : cp < 0x800 ? 2 : cp < 0x10000 ? 3 : 4;
        if (written + len > n) break;
        written += len;
        read += ch.length;
      }
      return { read, written: n };
    }
  }
  define(TextEncoder.prototype, Symbol.toStringTag, "TextEncoder");
  const LABELS = {
    "utf-8": "utf-8", "utf8": "utf-8", "unicode-1-1-utf-8": "utf-8",
    "utf-16le": "utf-16le", "utf-16": "utf-16le", "ucs-2": "utf-16le",
    "utf-16be": "utf-16be",
    "latin1": "windows-1252", "iso-8859-1": "windows-1252", "ascii": "windows-1252",
    "us-ascii": "windows-1252", "windows-1252": "windows-1252", "l1": "windows-1252",
  };
  class TextDecoder {
    #enc; #fatal; #ignoreBOM;
    constructor(label = "utf-8", options = {}) {
      const enc = LABELS[String(label).trim().toLowerCase()];
      if (!enc) throw new RangeError(`The "${label}" encoding is not supported`);
      this.#enc = enc;
      this.#fatal = !!(options && options.fatal);
      this.#ignoreBOM = !!(options && options.ignoreBOM);
    }
    get encoding() { return this.#enc; }
    get fatal() { return this.#fatal; }
    get ignoreBOM() { return this.#ignoreBOM; }
    decode(input, options) {
      if (input === undefined) return "";
      let view;
      if (input instanceof ArrayBuffer) view = new Uint8Array(input);
      else if (ArrayBuffer.isView(input)) view = new Uint8Array(input.buffer, input.byteOffset, input.byteLength);
      else throw new TypeError("The \"input\" argument must be an instance of ArrayBuffer or ArrayBufferView.");
      const r = N.decode(view, this.#enc, this.#fatal, this.#ignoreBOM);
      if (r === null) throw new TypeError(`The encoded data was not valid for encoding ${this.#enc}`);
      return r;
    }
  }
  define(TextDecoder.prototype, Symbol.toStringTag, "TextDecoder");
  define(G, "TextEncoder", TextEncoder);
  define(G, "TextDecoder", TextDecoder);

  // ---- Event, EventTarget, AbortController ----
  class Event {
    #type; #bubbles; #cancelable; #canceled = false; #stop = false; #ts;
    constructor(type, init = {}) {
      if (arguments.length === 0) throw new TypeError("The \"type\" argument must be specified");
      this.#type = String(type);
      this.#bubbles = !!(init && init.bubbles);
      this.#cancelable = !!(init && init.cancelable);
      this.#ts = N.now();
      this.target = null;
      this.currentTarget = null;
    }
    get type() { return this.#type; }
    get bubbles() { return this.#bubbles; }
    get cancelable() { return this.#cancelable; }
    get defaultPrevented() { return this.#canceled; }
    get timeStamp() { return this.#ts; }
    get isTrusted() { return false; }
    preventDefault() { if (this.#cancelable) this.#canceled = true; }
    stopPropagation() {}
    stopImmediatePropagation() { this.#stop = true; }
    get _stopped() { return this.#stop; }
  }
  define(Event.prototype, Symbol.toStringTag, "Event");
  class CustomEvent extends Event {
    #detail;
    constructor(type, init = {}) { super(type, init); this.#detail = init && init.detail !== undefined ? init.detail : null; }
    get detail() { return this.#detail; }
  }
  class EventTarget {
    #listeners = new Map();
    addEventListener(type, listener, options) {
      if (listener === null || listener === undefined) return;
      type = String(type);
      const once = typeof options === "object" && options !== null && !!options.once;
      const signal = typeof options === "object" && options !== null ? options.signal : undefined;
      if (signal && signal.aborted) return;
      let list = this.#listeners.get(type);
      if (!list) { list = []; this.#listeners.set(type, list); }
      if (list.some((l) => l.listener === listener)) return;
      const entry = { listener, once };
      list.push(entry);
      if (signal) signal.addEventListener("abort", () => this.removeEventListener(type, listener));
    }
    removeEventListener(type, listener) {
      const list = this.#listeners.get(String(type));
      if (!list) return;
      const i = list.findIndex((l) => l.listener === listener);
      if (i >= 0) list.splice(i, 1);
    }
    dispatchEvent(event) {
      if (!(event instanceof Event)) throw new TypeError("The \"event\" argument must be an instance of Event.");
      event.target = this;
      event.currentTarget = this;
      const handler = this["on" + event.type];
      const list = (this.#listeners.get(event.type) || []).slice();
      const call = (l) => {
        try {
          if (typeof l === "function") l.call(this, event);
          else if (l && typeof l.handleEvent === "function") l.handleEvent(event);
        } catch (e) { reportError(e); }
      };
      if (typeof handler === "function") call(handler);
      for (const entry of list) {
        if (event._stopped) break;
        if (entry.once) this.removeEventListener(event.type, entry.listener);
        call(entry.listener);
      }
      event.currentTarget = null;
      return !event.defaultPrevented;
    }
  }
  define(EventTarget.prototype, Symbol.toStringTag, "EventTarget");
  const abortReason = () => new DOMException("This operation was aborted", "AbortError");
  let signalToken = {};
  class AbortSignal extends EventTarget {
    #aborted = false; #reason = undefined;
    constructor(token) {
      if (token !== signalToken) throw new TypeError("Illegal constructor");
      super();
      this.onabort = null;
    }
    get aborted() { return this.#aborted; }
    get reason() { return this.#reason; }
    throwIfAborted() { if (this.#aborted) throw this.#reason; }
    _abort(reason) {
      if (this.#aborted) return;
      this.#aborted = true;
      this.#reason = reason === undefined ? abortReason() : reason;
      this.dispatchEvent(new Event("abort"));
    }
    static abort(reason) { const s = new AbortSignal(signalToken); s._abort(reason); return s; }
    static timeout(ms) {
      const s = new AbortSignal(signalToken);
      G.setTimeout(() => s._abort(new DOMException("The operation was aborted due to timeout", "TimeoutError")), ms);
      return s;
    }
    static any(signals) {
      const s = new AbortSignal(signalToken);
      for (const x of signals) {
        if (x.aborted) { s._abort(x.reason); return s; }
      }
      for (const x of signals) x.addEventListener("abort", () => s._abort(x.reason), { once: true });
      return s;
    }
  }
  define(AbortSignal.prototype, Symbol.toStringTag, "AbortSignal");
  class AbortController {
    #signal = new AbortSignal(signalToken);
    get signal() { return this.#signal; }
    abort(reason) { this.#signal._abort(reason); }
  }
  define(AbortController.prototype, Symbol.toStringTag, "AbortController");
  define(G, "Event", Event);
  define(G, "CustomEvent", CustomEvent);
  define(G, "EventTarget", EventTarget);
  define(G, "AbortSignal", AbortSignal);
  define(G, "AbortController", AbortController);

  // ---- structuredClone ----
  function cloneError() { return new DOMException("could not be cloned.", "DataCloneError"); }
  function clone(v, memo) {
    if (typeof v !== "object" && typeof v !== "function") {
      if (typeof v === "symbol") throw new DOMException(`${String(v)} could not be cloned.`, "DataCloneError");
      return v;
    }
    if (v === null) return v;
    if (typeof v === "function") throw new DOMException(`${fnLabel(v).replace(/^\[|\]$/g, "")} could not be cloned.`, "DataCloneError");
    if (memo.has(v)) return memo.get(v);
    if (N.isPyProxy(v)) throw new DOMException("PyProxy object could not be cloned.", "DataCloneError");
    const tag = tagOf(v);
    let out;
    switch (tag) {
      case "Date": out = new Date(v.getTime()); break;
      case "RegExp": out = new RegExp(v.source, v.flags); break;
      case "Boolean": out = Object(v.valueOf()); break;
      case "Number": out = Object(v.valueOf()); break;
      case "String": out = Object(v.valueOf()); break;
      case "BigInt": out = Object(v.valueOf()); break;
      case "ArrayBuffer": out = v.slice(0); break;
      case "DataView": {
        const buf = clone(v.buffer, memo);
        out = new DataView(buf, v.byteOffset, v.byteLength);
        break;
      }
      case "Map": {
        out = new Map(); memo.set(v, out);
        for (const [k, x] of v) out.set(clone(k, memo), clone(x, memo));
        return out;
      }
      case "Set": {
        out = new Set(); memo.set(v, out);
        for (const x of v) out.add(clone(x, memo));
        return out;
      }
      default:
        if (ArrayBuffer.isView(v)) {
          const buf = clone(v.buffer, memo);
          out = new v.constructor(buf, v.byteOffset, v.length);
          break;
        }
        if (v instanceof Error) {
          const ctors = { Error, EvalError, RangeError, ReferenceError, SyntaxError, TypeError, URIError };
          const C = ctors[v.name] || Error;
          out = new C(v.message);
          memo.set(v, out);
          if (typeof v.stack === "string") define(out, "stack", v.stack);
          if ("cause" in v) out.cause = clone(v.cause, memo);
          return out;
        }
        if (Array.isArray(v)) {
          out = new Array(v.length); memo.set(v, out);
          for (const k of Object.keys(v)) out[k] = clone(v[k], memo);
          return out;
        }
        if (tag !== "Object" && tag !== "Arguments") throw new DOMException(`${tag} object could not be cloned.`, "DataCloneError");
        out = {}; memo.set(v, out);
        for (const k of Object.keys(v)) out[k] = clone(v[k], memo);
        return out;
    }
    memo.set(v, out);
    return out;
  }
  define(G, "structuredClone", function structuredClone(v) {
    if (arguments.length === 0) throw new TypeError("The \"value\" argument must be specified");
    return clone(v, new Map());
  });

  // ---- WeakRef / FinalizationRegistry ----
  // goja has neither. These keep strong references (deref never returns
  // undefined) and never call cleanups: correct for code that does not rely
  // on collection happening.
  if (typeof G.WeakRef !== "function") {
    class WeakRef {
      #target;
      constructor(target) {
        if (target === null || (typeof target !== "object" && typeof target !== "function")) {
          throw new TypeError("WeakRef: target must be an object");
        }
        this.#target = target;
      }
      deref() { return this.#target; }
    }
    define(WeakRef.prototype, Symbol.toStringTag, "WeakRef");
    define(G, "WeakRef", WeakRef);
  }
  if (typeof G.FinalizationRegistry !== "function") {
    class FinalizationRegistry {
      constructor(cleanup) {
        if (typeof cleanup !== "function") throw new TypeError("FinalizationRegistry: cleanup must be callable");
      }
      register() {}
      unregister() { return false; }
    }
    define(FinalizationRegistry.prototype, Symbol.toStringTag, "FinalizationRegistry");
    define(G, "FinalizationRegistry", FinalizationRegistry);
  }

  // ---- async generators (goja compiles none: see transform.go) ----
  class AwaitMarker { constructor(value) { this.value = value; } }
  const AsyncGeneratorProto = Object.create(Object.prototype, {
    [Symbol.toStringTag]: { value: "AsyncGenerator", configurable: true },
    [Symbol.asyncIterator]: { value: function () { return this; }, writable: true, configurable: true },
  });
  define(G, "__wasmpy_await", (v) => new AwaitMarker(v));
  define(G, "__wasmpy_asyncGen", (gen) => {
    const queue = [];
    let running = false;
    let finished = false;
    async function step(kind, value) {
      let res;
      try { res = gen[kind](value); } catch (e) { finished = true; throw e; }
      for (;;) {
        if (res.done) { finished = true; return { value: await res.value, done: true }; }
        const y = res.value;
        let v, threw = false;
        try { v = await (y instanceof AwaitMarker ? y.value : y); } catch (e) { threw = true; v = e; }
        if (!(y instanceof AwaitMarker) && !threw) return { value: v, done: false };
        try { res = threw ? gen.throw(v) : gen.next(v); } catch (e) { finished = true; throw e; }
      }
    }
    async function drain() {
      running = true;
      while (queue.length) {
        const r = queue.shift();
        if (finished) {
          if (r.kind === "throw") r.reject(r.value);
          else r.resolve({ value: r.kind === "return" ? await r.value : undefined, done: true });
          continue;
        }
        try { r.resolve(await step(r.kind, r.value)); } catch (e) { r.reject(e); }
      }
      running = false;
    }
    const enqueue = (kind, value) => new Promise((resolve, reject) => {
      queue.push({ kind, value, resolve, reject });
      if (!running) drain();
    });
    const obj = Object.create(AsyncGeneratorProto);
    define(obj, "next", (v) => enqueue("next", v));
    define(obj, "throw", (v) => enqueue("throw", v));
    define(obj, "return", (v) => enqueue("return", v));
    return obj;
  });

  // ---- JSON.parse: numbers out of float64 range ----
  // goja's JSON.parse rejects 1e400; JavaScript reads it as Infinity (and
  // 1e-400 as 0). On that error only, parse again with such literals
  // replaced by marker strings that a reviver turns back into numbers.
  {
    const nativeParse = JSON.parse;
    const NUM = /"(?:[^"\\]|\\.)*"|-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?/g;
    const MARK = "\u0000wasmpy-num:";
    const parse = function parse(text, reviver) {
      try {
        return reviver === undefined ? nativeParse(text) : nativeParse(text, reviver);
      } catch (e) {
        const src = String(text);
        if (!(e instanceof SyntaxError) || !/cannot unmarshal number/.test(String(e.message))) throw e;
        const marked = src.replace(NUM, (tok) => {
          if (tok[0] === '"') return tok;
          const n = Number(tok);
          return n === Infinity || n === -Infinity || (n === 0 && /[1-9]/.test(tok.split(/[eE]/)[0])) ? JSON.stringify(MARK + tok) : tok;
        });
        const unmark = (v) => (typeof v === "string" && v.startsWith(MARK) ? Number(v.slice(MARK.length)) : v);
        if (typeof reviver === "function") {
          return nativeParse(marked, function (k, v) { return reviver.call(this, k, unmark(v)); });
        }
        return nativeParse(marked, (k, v) => unmark(v));
      }
    };
    define(JSON, "parse", parse);
  }

  // ---- Date: V8's name for UTC in toString ----
  for (const name of ["toString", "toTimeString"]) {
    const orig = Date.prototype[name];
    define(Date.prototype, name, {
      [name]() { return orig.call(this).replace(/ \(UTC\)$/, " (Coordinated Universal Time)"); },
    }[name]);
  }

  // ---- URL (goja_nodejs): resolve against a base as WHATWG does (its own
  // resolution drops the base's directory for "../x"), origin keeps the port.
  {
    const NodeURL = G.URL;
    const URL = function URL(url, base) {
      if (new.target === undefined) throw new TypeError("Class constructor URL cannot be invoked without 'new'");
      if (arguments.length === 0) throw new TypeError('The "url" argument must be specified');
      if (base !== undefined) {
        const abs = N.resolveURL(String(url), String(base));
        if (abs !== null) return Reflect.construct(NodeURL, [abs], new.target);
      }
      return Reflect.construct(NodeURL, base === undefined ? [url] : [url, base], new.target);
    };
    for (const k of Reflect.ownKeys(NodeURL)) {
      if (k !== "prototype" && k !== "length" && k !== "name") {
        Object.defineProperty(URL, k, Object.getOwnPropertyDescriptor(NodeURL, k));
      }
    }
    const special = new Set(["http:", "https:", "ws:", "wss:", "ftp:"]);
    const proto = Object.create(NodeURL.prototype);
    Object.defineProperty(proto, "constructor", { value: URL, writable: true, configurable: true });
    Object.defineProperty(proto, "origin", {
      get() { const p = this.protocol; return special.has(p) ? p + "//" + this.host : "null"; },
      enumerable: true, configurable: true,
    });
    // goja_nodejs's href getter misses changes made through searchParams
    // (its search getter and toString bring the query up to date first).
    // Its href setter leaves searchParams as they were, and its search
    // setter keeps a leading "?".
    const href = Object.getOwnPropertyDescriptor(NodeURL.prototype, "href");
    const search = Object.getOwnPropertyDescriptor(NodeURL.prototype, "search");
    if (href && href.get && href.set && search && search.get && search.set) {
      const setSearch = (u, v) => {
        v = String(v);
        search.set.call(u, v.startsWith("?") ? v.slice(1) : v);
      };
      Object.defineProperty(proto, "href", {
        get() { void this.search; return href.get.call(this); },
        set(v) {
          href.set.call(this, v);
          const h = href.get.call(this).split("#")[0];
          const i = h.indexOf("?");
          setSearch(this, i < 0 ? "" : h.slice(i + 1));
        },
        enumerable: true, configurable: true,
      });
      Object.defineProperty(proto, "search", {
        get() { return search.get.call(this); },
        set(v) { setSearch(this, v); },
        enumerable: true, configurable: true,
      });
    }
    Object.defineProperty(proto, Symbol.toStringTag, { value: "URL", configurable: true });
    Object.defineProperty(URL, "prototype", { value: proto });
    if (G.URLSearchParams && !Object.prototype.hasOwnProperty.call(G.URLSearchParams.prototype, Symbol.toStringTag)) {
      try {
        Object.defineProperty(G.URLSearchParams.prototype, Symbol.toStringTag, { value: "URLSearchParams", configurable: true });
      } catch (e) { /* not extensible */ }
    }
    define(G, "URL", URL);
  }

  // ---- Number(bigint): goja truncates to int64; the spec rounds the exact
  // value (Number(2n ** 64n) is 18446744073709551616).
  {
    const NativeNumber = Number;
    const toNum = (v) => (typeof v === "bigint" && (v > 9007199254740991n || v < -9007199254740991n)) ? NativeNumber.parseFloat(v.toString()) : v;
    const arg = (args) => {
      if (args.length === 0) return 0;
      const v = args[0];
      return toNum(typeof v === "object" && v !== null && v instanceof BigInt ? v.valueOf() : v);
    };
    // goja gives a plain call made inside a constructor that constructor's
    // new.target: a construct call is one whose `this` was made from it.
    const Num = function Number(value) {
      const nt = new.target;
      if (nt !== undefined && this !== null && typeof this === "object" && Object.getPrototypeOf(this) === nt.prototype) {
        return Reflect.construct(NativeNumber, [arg(arguments)], nt);
      }
      return NativeNumber(arg(arguments));
    };
    for (const k of Reflect.ownKeys(NativeNumber)) {
      if (k !== "length" && k !== "name") Object.defineProperty(Num, k, Object.getOwnPropertyDescriptor(NativeNumber, k));
    }
    Object.defineProperty(NativeNumber.prototype, "constructor", { value: Num, writable: true, configurable: true, enumerable: false });
    define(G, "Number", Num);
  }

  // ---- navigator ----
  define(G, "navigator", { userAgent: "wasmpy", language: "en-US", languages: ["en-US"], hardwareConcurrency: 1, onLine: true });

  return { inspect, format, reportError };
});
