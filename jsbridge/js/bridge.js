// The JavaScript half of the PyProxy machinery: the PyProxy class hierarchy
// (methods chosen by the Python object's abilities, as in Pyodide 0.29's
// pyproxy.ts), PythonError, and small helpers the Go side calls. `N` holds
// the natives (Go, see pyproxy.go); it is not reachable afterwards.
(function (N) {
  "use strict";
  const G = globalThis;
  const define = (obj, name, value) =>
    Object.defineProperty(obj, name, { value, writable: true, configurable: true, enumerable: false });

  // Flags of a Python object (same values as pyproxy.go and _core_ffi.py).
  const HAS_LENGTH = 1 << 0, HAS_GET = 1 << 1, HAS_SET = 1 << 2, HAS_CONTAINS = 1 << 3,
    IS_ITERABLE = 1 << 4, IS_ITERATOR = 1 << 5, IS_AWAITABLE = 1 << 6, IS_BUFFER = 1 << 7,
    IS_CALLABLE = 1 << 8, IS_ASYNC_ITERABLE = 1 << 9, IS_ASYNC_ITERATOR = 1 << 10,
    IS_GENERATOR = 1 << 11, IS_ASYNC_GENERATOR = 1 << 12, IS_SEQUENCE = 1 << 13,
    IS_MUTABLE_SEQUENCE = 1 << 14;

  class PythonError extends Error {
    constructor(type, message, token) {
      super(message);
      define(this, "type", type);
      define(this, "__error_address", token);
    }
  }
  define(PythonError.prototype, "name", "PythonError");
  define(G, "PythonError", PythonError);

  class PyProxy {
    constructor() { throw new TypeError("PyProxy is not a constructor"); }
    static [Symbol.hasInstance](obj) { return N.isPyProxy(obj); }
    get [Symbol.toStringTag]() { return "PyProxy"; }
    get type() { return N.type(this); }
    toString() { return N.repr(this); }
    destroy(options = {}) {
      options = Object.assign({ message: "", destroyRoundtrip: true }, options);
      N.destroy(this, String(options.message), !!options.destroyRoundtrip);
    }
    copy() { return N.copy(this); }
    toJs({ depth = -1, pyproxies = undefined, create_pyproxies = true, dict_converter = undefined,
      default_converter = undefined, eager_converter = undefined } = {}) {
      return N.toJs(this, depth, pyproxies, create_pyproxies, dict_converter, default_converter, eager_converter);
    }
  }
  define(G, "PyProxy", PyProxy);

  const ITER_DESTROYED = "This borrowed proxy was automatically destroyed when an iterator was exhausted.";
  const PyLength = {
    get length() { return N.len(this); },
  };
  const PyGetItem = {
    get(key) { return N.getItem(this, key); },
  };
  const PySetItem = {
    set(key, value) { N.setItem(this, key, value); },
    delete(key) { N.delItem(this, key); },
  };
  const PyContains = {
    has(key) { return N.contains(this, key); },
  };
  const PyIterable = {
    // pyproxy.ts iter_helper: the PyProxies it yielded are destroyed once
    // the iterator is exhausted.
    *[Symbol.iterator]() {
      const it = N.iter(this);
      const yielded = [];
      try {
        while (true) {
          const r = N.next(it, undefined);
          if (r.done) break;
          const v = r.value;
          yield v;
          if (v !== null && (typeof v === "object" || typeof v === "function") && N.isPyProxy(v)) yielded.push(v);
        }
      } finally {
        it.destroy();
      }
      for (const v of yielded) {
        try { N.destroy(v, ITER_DESTROYED, false); } catch (e) { /* already gone */ }
      }
    },
  };
  const PyIterator = {
    [Symbol.iterator]() { return this; },
    next(arg = undefined) { return N.next(this, arg); },
  };
  const PyGenerator = {
    throw(exc) { return N.genThrow(this, exc); },
    return(v) { return N.genReturn(this, v); },
  };
  const PyAsyncIterable = {
    [Symbol.asyncIterator]() { return N.aiter(this); },
  };
  const PyAsyncIterator = {
    [Symbol.asyncIterator]() { return this; },
    next(arg = undefined) { return N.anext(this, arg); },
  };
  const PyAsyncGenerator = {
    throw(exc) { return N.athrow(this, exc); },
    return(v) { return N.areturn(this, v); },
  };
  const PyAwaitable = {
    then(onFulfilled, onRejected) { return N.promise(this).then(onFulfilled, onRejected); },
    catch(onRejected) { return N.promise(this).catch(onRejected); },
    finally(onFinally) { return N.promise(this).finally(onFinally); },
  };
  const PyBuffer = {
    getBuffer(type) { return N.getBuffer(this, type); },
  };
  const PyCallable = {
    apply(thisArg, jsargs) {
      // As Function.prototype.apply: length and indices, no iteration.
      jsargs = jsargs === undefined || jsargs === null ? [] : Array.prototype.slice.call(jsargs);
      return N.call(this, thisArg, jsargs, undefined, false);
    },
    call(thisArg, ...jsargs) { return N.call(this, thisArg, jsargs, undefined, false); },
    callKwargs(...jsargs) {
      if (jsargs.length === 0) throw new TypeError("callKwargs requires at least one argument (the key word argument object)");
      const kwargs = jsargs.pop();
      if (kwargs === null || typeof kwargs !== "object" || kwargs.constructor !== undefined && kwargs.constructor.name !== "Object") {
        throw new TypeError("kwargs argument is not an object");
      }
      return N.call(this, undefined, jsargs, kwargs, false);
    },
    callRelaxed(...jsargs) { return N.call(this, undefined, jsargs, undefined, true); },
    callKwargsRelaxed(...jsargs) {
      if (jsargs.length === 0) throw new TypeError("callKwargsRelaxed requires at least one argument (the key word argument object)");
      const kwargs = jsargs.pop();
      if (kwargs === null || typeof kwargs !== "object") throw new TypeError("kwargs argument is not an object");
      return N.call(this, undefined, jsargs, kwargs, true);
    },
    callPromising(...jsargs) {
      try { return Promise.resolve(N.call(this, undefined, jsargs, undefined, false)); } catch (e) { return Promise.reject(e); }
    },
    callPromisingKwargs(...jsargs) {
      try { return Promise.resolve(this.callKwargs(...jsargs)); } catch (e) { return Promise.reject(e); }
    },
    bind(thisArg, ...jsargs) { return N.bind(this, thisArg, jsargs); },
    captureThis() { return N.captureThis(this); },
  };
  const defaultCompare = (a, b) => {
    if (a === undefined && b === undefined) return 0;
    if (a === undefined) return 1;
    if (b === undefined) return -1;
    const sa = String(a), sb = String(b);
    return sa < sb ? -1 : sa > sb ? 1 : 0;
  };
  // pyproxy.ts PySequenceMethods: Array.prototype methods applied to the
  // proxy itself (length + index access), not to a copy made by iterating.
  const AP = Array.prototype;
  const PySequence = {
    get [Symbol.isConcatSpreadable]() { return true; },
    join(separator) { return AP.join.call(this, separator); },
    slice(start, stop) { return AP.slice.call(this, start, stop); },
    lastIndexOf(elt, fromIndex) {
      if (fromIndex === undefined) fromIndex = this.length;
      return AP.lastIndexOf.call(this, elt, fromIndex);
    },
    indexOf(elt, fromIndex) { return AP.indexOf.call(this, elt, fromIndex); },
    forEach(callbackfn, thisArg) { AP.forEach.call(this, callbackfn, thisArg); },
    map(callbackfn, thisArg) { return AP.map.call(this, callbackfn, thisArg); },
    filter(predicate, thisArg) { return AP.filter.call(this, predicate, thisArg); },
    some(predicate, thisArg) { return AP.some.call(this, predicate, thisArg); },
    every(predicate, thisArg) { return AP.every.call(this, predicate, thisArg); },
    reduce(...args) { return AP.reduce.apply(this, args); },
    reduceRight(...args) { return AP.reduceRight.apply(this, args); },
    at(index) { return AP.at.call(this, index); },
    concat(...rest) { return AP.concat.apply(this, rest); },
    includes(elt) { return N.contains(this, elt); },
    entries() { return AP.entries.call(this); },
    keys() { return AP.keys.call(this); },
    values() { return AP.values.call(this); },
    find(predicate, thisArg) { return AP.find.call(this, predicate, thisArg); },
    findIndex(predicate, thisArg) { return AP.findIndex.call(this, predicate, thisArg); },
    // Iterates, so (as in Pyodide) element proxies are destroyed before
    // JSON.stringify reads them.
    toJSON() { return Array.from(this); },
  };
  const PyMutableSequence = {
    reverse() { N.method(this, "reverse", []); return this; },
    sort(compareFn) {
      const a = AP.slice.call(this).sort(compareFn || defaultCompare);
      N.sliceAssign(this, 0, a.length, a);
      return this;
    },
    splice(start, deleteCount, ...items) {
      const n = this.length;
      start = start === undefined ? 0 : Math.trunc(start);
      if (start < 0) start = Math.max(n + start, 0);
      start = Math.min(start, n);
      if (deleteCount === undefined) deleteCount = n - start;
      deleteCount = Math.min(Math.max(Math.trunc(deleteCount), 0), n - start);
      return N.sliceAssign(this, start, start + deleteCount, items);
    },
    push(...elts) { for (const e of elts) N.method(this, "append", [e]); return this.length; },
    pop() { return N.pop(this, false); },
    shift() { return N.pop(this, true); },
    unshift(...elts) {
      elts.forEach((e, i) => N.method(this, "insert", [i, e]));
      return this.length;
    },
    copyWithin(...args) {
      const a = AP.slice.call(this);
      Array.prototype.copyWithin.apply(a, args);
      N.sliceAssign(this, 0, a.length, a);
      return this;
    },
    fill(...args) {
      const a = AP.slice.call(this);
      Array.prototype.fill.apply(a, args);
      N.sliceAssign(this, 0, a.length, a);
      return this;
    },
  };
  const MIXINS = [
    [HAS_LENGTH, PyLength], [HAS_GET, PyGetItem], [HAS_SET, PySetItem], [HAS_CONTAINS, PyContains],
    [IS_ITERABLE, PyIterable], [IS_ITERATOR, PyIterator], [IS_GENERATOR, PyGenerator],
    [IS_ASYNC_ITERABLE, PyAsyncIterable], [IS_ASYNC_ITERATOR, PyAsyncIterator],
    [IS_ASYNC_GENERATOR, PyAsyncGenerator], [IS_AWAITABLE, PyAwaitable], [IS_BUFFER, PyBuffer],
    [IS_CALLABLE, PyCallable], [IS_SEQUENCE, PySequence], [IS_MUTABLE_SEQUENCE, PyMutableSequence],
  ];
  const PyProxyProto = PyProxy.prototype;
  const PyProxyFunctionProto = Object.create(Function.prototype, Object.getOwnPropertyDescriptors(PyProxyProto));
  const protos = new Map();
  function proto(flags) {
    let p = protos.get(flags);
    if (p) return p;
    const descriptors = {};
    for (const [flag, methods] of MIXINS) {
      if (flags & flag) Object.assign(descriptors, Object.getOwnPropertyDescriptors(methods));
    }
    for (const k of Object.keys(descriptors)) descriptors[k].enumerable = false;
    for (const s of Object.getOwnPropertySymbols(descriptors)) descriptors[s].enumerable = false;
    descriptors.constructor = Object.getOwnPropertyDescriptor(PyProxyProto, "constructor");
    descriptors.$$flags = { value: flags, writable: false, enumerable: false, configurable: true };
    p = Object.create(flags & IS_CALLABLE ? PyProxyFunctionProto : PyProxyProto, descriptors);
    protos.set(flags, p);
    return p;
  }

  // Promise.withResolvers, for the Go side.
  function deferred() {
    let resolve, reject;
    const promise = new Promise((a, b) => { resolve = a; reject = b; });
    return { promise, resolve, reject };
  }

  // Turn anything thrown into an Error, as Pyodide's ensureCaughtObjectIsError.
  function toError(e) {
    if (typeof e === "string") return new Error(e);
    if (e !== null && typeof e === "object" && typeof e.message === "string" && "stack" in e) return e;
    if (e instanceof Error) return e;
    const tag = Object.prototype.toString.call(e);
    let msg = `A value of type ${typeof e} with tag ${tag} was thrown as an error!`;
    try { msg += `\nString interpolation of the thrown value gives """${e}""".`; }
    catch (x) { msg += "\nString interpolation of the thrown value fails."; }
    try { msg += `\nThe thrown value's toString method returns """${e.toString()}""".`; }
    catch (x) { msg += "\nThe thrown value's toString method fails."; }
    return new Error(msg);
  }

  function dir(obj) {
    const reserved = new Set(["False", "await", "else", "import", "pass", "None", "break", "except", "in",
      "raise", "True", "class", "finally", "is", "return", "and", "continue", "for", "lambda", "try", "as",
      "def", "from", "nonlocal", "while", "assert", "del", "global", "not", "with", "async", "elif", "if",
      "or", "yield"]);
    const result = [];
    do {
      const names = Object.getOwnPropertyNames(obj);
      for (const s of names) {
        const c = s.charCodeAt(0);
        if (c >= 48 && c <= 57) continue;
        result.push(reserved.has(s.replace(/_*$/, "")) ? s + "_" : s);
      }
    } while ((obj = Object.getPrototypeOf(obj)));
    return result;
  }

  function jsBool(val) {
    if (!val) return false;
    if (val.size === 0) return false;
    if (val.length === 0 && Array.isArray(val)) return false;
    if (val.byteLength === 0) return false;
    return true;
  }

  function length(val) {
    let r;
    if (typeof val.size === "number") r = val.size;
    else if (typeof val.length === "number") r = val.length;
    else return -2;
    if (r < 0) return -3;
    if (r > 2147483647) return -4;
    return r;
  }

  class ReversedIterator {
    constructor(array) { this._array = array; this._i = array.length - 1; }
    __length_hint__() { return this._array.length; }
    get [Symbol.toStringTag]() { return "ReverseIterator"; }
    next() {
      const i = this._i; const a = this._array; const done = i < 0;
      const value = done ? undefined : a[i];
      this._i--;
      return { done, value };
    }
  }

  function bufferInfo(v) {
    const tag = Object.prototype.toString.call(v).slice(8, -1);
    const table = {
      Int8Array: ["b", 1], Uint8Array: ["B", 1], Uint8ClampedArray: ["B", 1], Int16Array: ["h", 2],
      Uint16Array: ["H", 2], Int32Array: ["i", 4], Uint32Array: ["I", 4], Float32Array: ["f", 4],
      Float64Array: ["d", 8], BigInt64Array: ["q", 8], BigUint64Array: ["Q", 8], DataView: ["B", 1],
      ArrayBuffer: ["B", 1],
    };
    const [fmt, size] = table[tag] || [null, 0];
    return [fmt, size, v.byteLength];
  }

  // Helpers the Python side calls by index (op 'H'); the order is shared
  // with _core_ffi.py. MISSING makes the Go side answer 'A' (absent).
  const MISSING = Symbol("missing");
  const getOwnDesc = Object.getOwnPropertyDescriptor, ownHas = Object.hasOwn;
  const hasOwn = (o, k) => Object.prototype.hasOwnProperty.call(o, k);
  const pyHelpers = [
    /* 0 typeof */ (o) => typeof o,
    /* 1 repr */ (o) => { try { return String(o); } catch (e) { return Object.prototype.toString.call(o); } },
    /* 2 bool */ jsBool,
    /* 3 length */ length,
    /* 4 dir */ dir,
    /* 5 compare */ (a, b, op) => {
      switch (op) {
        case 0: return a < b; case 1: return a <= b; case 2: return a === b;
        case 3: return a !== b; case 4: return a > b; case 5: return a >= b;
      }
      return false;
    },
    /* 6 entries */ (o) => Object.entries(o),
    /* 7 keys */ (o) => Object.keys(o),
    /* 8 values */ (o) => Object.values(o),
    /* 9 iter */ (o) => o[Symbol.iterator](),
    /* 10 aiter */ (o) => o[Symbol.asyncIterator](),
    /* 11 mapIter */ (o) => (typeof o.keys === "function" ? o.keys() : o[Symbol.iterator]()),
    /* 12 reversed */ (a) => new ReversedIterator(a),
    /* 13 objKeysIter */ (o) => Object.keys(o)[Symbol.iterator](),
    /* 14 mapGet */ (o, k) => {
      const r = o.get(k);
      if (r === undefined && typeof o.has === "function" && !o.has(k)) return MISSING;
      return r;
    },
    /* 15 mapSet */ (o, k, v) => { o.set(k, v); },
    /* 16 mapDelete */ (o, k) => !!o.delete(k),
    /* 17 has */ (o, k) => !!o.has(k),
    /* 18 includes */ (o, k) => !!o.includes(k),
    /* 19 arrayDelete */ (o, i) => { if (i < 0 || i >= o.length) return MISSING; return o.splice(i, 1)[0]; },
    /* 20 arrayInsert */ (o, i, v) => { o.splice(i, 0, v); },
    /* 21 arraySlice */ (o, start, stop, step) => {
      if (step === 1) return o.slice(start, stop);
      const r = [];
      if (step > 0) for (let i = start; i < stop; i += step) r.push(o[i]);
      else for (let i = start; i > stop; i += step) r.push(o[i]);
      return r;
    },
    /* 22 arraySliceAssign */ (o, start, stop, step, values) => {
      if (step === 1) { o.splice(start, Math.max(stop - start, 0), ...(values === undefined || values === null ? [] : values)); return; }
      if (values === undefined || values === null) {
        // (step > 0 here: Python passes a deletion with a negative step
        // as the same indices in increasing order.)
        let last = start;
        while (last + step < stop) last += step;
        for (let i = last; i >= start; i -= step) o.splice(i, 1);
        return;
      }
      let j = 0;
      if (step > 0) for (let i = start; i < stop; i += step) o[i] = values[j++];
      else for (let i = start; i > stop; i += step) o[i] = values[j++];
    },
    /* 23 push */ (o, v) => { o.push(v); },
    /* 24 extend */ (o, a) => { o.push(...a); },
    /* 25 repeat */ (o, n) => Array.from({ length: n }, () => o).flat(),
    /* 26 inplaceRepeat */ (o, n) => { o.splice(0, o.length, ...Array.from({ length: n }, () => o).flat()); },
    /* 27 indexOf */ (o, v, start, stop) => { for (let i = start; i < stop; i++) if (o[i] === v) return i; return -2; },
    /* 28 count */ (o, v) => { let r = 0; for (let i = 0; i < o.length; i++) if (o[i] === v) r++; return r; },
    /* 29 reverse */ (o) => { o.reverse(); },
    /* 30 shallowCopy */ (o) => Array.prototype.slice.call(o),
    /* 31 objmapLength */ (o) => Object.keys(o).length,
    /* 32 objmapGet */ (o, k) => (hasOwn(o, k) ? o[k] : MISSING),
    /* 33 objmapSet */ (o, k, v) => { o[k] = v; },
    /* 34 objmapDelete */ (o, k) => { if (!hasOwn(o, k)) return MISSING; delete o[k]; },
    /* 35 objmapContains */ (o, k) => hasOwn(o, k),
    /* 36 weakref */ (o) => new WeakRef(o),
    /* 37 construct */ (f, args) => Reflect.construct(f, args),
    /* 38 promiseResolve */ (p) => Promise.resolve(p),
    /* 39 then */ (p, a, b) => p.then(a, b),
    /* 40 constructorName */ (o) => { try { return o.constructor.name; } catch (e) { return ""; } },
    /* 41 typeTag */ (o) => Object.prototype.toString.call(o),
    /* 42 bufferInfo */ bufferInfo,
    /* 43 textDecode */ (buf, enc) => {
      try { return new TextDecoder(enc, { fatal: true, ignoreBOM: true }).decode(buf); }
      catch (e) { if (e instanceof TypeError) return MISSING; throw e; }
    },
    /* 44 callMethod */ (o, name, ...args) => o[name](...args),
    /* 45 newError */ (name, message, stack) => {
      const ctors = { Error, EvalError, RangeError, ReferenceError, SyntaxError, TypeError, URIError };
      const C = ctors[name] || Error;
      const e = new C(message);
      if (!ctors[name]) Object.defineProperty(e, "name", { value: name, writable: true, configurable: true });
      if (stack) Object.defineProperty(e, "stack", { value: stack, writable: true, configurable: true });
      return e;
    },
    /* 46 ownNames */ (o) => Object.getOwnPropertyNames(o),
    /* 47 in */ (o, k) => k in o,
    /* 48 finally */ (p, f) => p.finally(f),
    /* 49 catch */ (p, f) => p.catch(f),
    /* 50 isPromise */ (p) => p instanceof Promise,
    /* 51 arrayFrom */ (o) => Array.from(o),
    /* 52 getSymbol */ (o, s) => o[s],
    /* 53 objFromEntries */ (e) => Object.fromEntries(e),
    /* 54 disposeCall */ (o) => o[Symbol.dispose](),
    /* 55 destroyAll */ (a) => { for (const p of a) { if (p && typeof p.destroy === "function") p.destroy(); } },
  ];

  return {
    proto, deferred, toError, pyHelpers, MISSING,
    isArray: (o) => Array.isArray(o),
    // pre.js hasProperty: an own property anywhere on the prototype chain,
    // found without running getters (a Proxy answers through its
    // getOwnPropertyDescriptor and getPrototypeOf traps, not get).
    hasProperty: (o, k) => {
      try {
        for (; o; o = Object.getPrototypeOf(o)) if (Object.hasOwn(o, k)) return true;
      } catch (e) {}
      return false;
    },
    // An own data property's value, or MISSING (no such own property, or an
    // accessor): what the Go side lets Python cache (op 'K'). The
    // intrinsics are the ones of start-up, whatever user code does later.
    ownData: (o, k) => {
      const d = getOwnDesc(o, k);
      return d !== undefined && ownHas(d, "value") ? d.value : MISSING;
    },
    newPythonError: (type, message, token) => new PythonError(type, message, token),
    isPythonError: (e) => e instanceof PythonError,
    asyncIterator: Symbol.asyncIterator,
    dispose: Symbol.dispose,
  };
});
