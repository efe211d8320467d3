package main

import (
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"
	"wasmpy/loop"
)

// Mount is a host directory made visible inside the sandbox.
type Mount struct {
	Host     string // absolute host path
	Guest    string // absolute path inside the sandbox; equal to Host unless given
	ReadOnly bool
}

// runtimeOptions are the sandbox and runtime settings given on the command
// line, handed to newFactory and warmCache.
type runtimeOptions struct {
	Mounts         []Mount
	Env            map[string]string
	Net            loop.NetPolicy // what the sandbox may fetch: nothing by default
	AllowEnv       []string       // host environment variables passed in
	AllowAllEnv    bool           // --allow-env alone: the whole host environment
	CellTimeout    time.Duration  // reported by %permissions; enforced by the kernel
	MemoryLimitMiB int            // 0: the runtime's default
	RuntimeDir     string         // "": the runtime finds its files
	CacheDir       string         // "": the runtime's default compilation cache
	NoSnapshot     bool           // start every interpreter from scratch
	FetchMaxBytes  int64          // 0: loop.DefaultMaxResponseBytes
	FetchTimeout   time.Duration  // 0: loop.DefaultFetchTimeout
	// warmCompletion: the start-up snapshot also warms jedi (install).
	warmCompletion bool
}

// kernelOptions are the flags of `wasmpy kernel` that install stores into
// kernel.json's argv.
type kernelOptions struct {
	runtime     runtimeOptions
	cellTimeout time.Duration
	logLevel    slog.Level
}

// addKernelFlags registers the kernel's flags on fs.
func addKernelFlags(fs *flag.FlagSet, o *kernelOptions) {
	o.logLevel = slog.LevelWarn
	o.runtime.Env = map[string]string{}
	fs.Var((*levelFlag)(&o.logLevel), "log-level", "log at `LEVEL`: debug, info, warn or error (default warn)")
	fs.DurationVar(&o.cellTimeout, "cell-timeout", 0, "interrupt a cell after `DURATION` (30s, 5m); if it has not stopped\n2s later, replace the interpreter (default: no limit)")
	fs.Var((*mountFlag)(&o.runtime.Mounts), "mount", "make a host directory visible in the sandbox, as\n`HOST[:GUEST][:ro]` (repeatable)")
	fs.Var((envFlag)(o.runtime.Env), "env", "set `NAME=VALUE` in the sandbox's environment (repeatable)")
	fs.Var((*netFlag)(&o.runtime.Net), "allow-net", "let fetch/pyfetch/open_url/urllib reach `HOSTS` (HOST[:PORT],...); alone:\nany public address (loopback, private and link-local stay refused)")
	fs.Var(&allowPaths{mounts: &o.runtime.Mounts, ro: true}, "allow-read", "mount host directories `PATHS` (PATH[,PATH]) read-only at the same paths inside")
	fs.Var(&allowPaths{mounts: &o.runtime.Mounts}, "allow-write", "mount host directories `PATHS` (PATH[,PATH]) read-write at the same paths inside")
	fs.Var(&allowEnv{o: &o.runtime}, "allow-env", "pass the host's environment variables `VARS` (VAR[,VAR]) in; alone: all of them")
	fs.IntVar(&o.runtime.MemoryLimitMiB, "memory-limit", 0, "cap the interpreter's memory at `MIB` mebibytes (default: 2048)")
	fs.Var((*memoryFlag)(&o.runtime.MemoryLimitMiB), "memory", "cap the interpreter's memory at `SIZE` (512M, 2G; same as --memory-limit)")
	fs.StringVar(&o.runtime.RuntimeDir, "runtime-dir", "", "use the Python runtime (python.wasm, lib.zip) in `DIR`")
	fs.StringVar(&o.runtime.CacheDir, "cache-dir", "", "keep compiled code and start-up snapshots in `DIR`")
	fs.Var((*byteSize)(&o.runtime.FetchMaxBytes), "fetch-max-bytes", "refuse fetch responses larger than `SIZE` (64M, 500K; default 64M)")
	fs.DurationVar(&o.runtime.FetchTimeout, "fetch-timeout", 0, "give up a fetch (body included) after `DURATION` (default 60s)")
	fs.BoolVar(&o.runtime.NoSnapshot, "no-snapshot", false, "start every interpreter from scratch, not from a snapshot\nof one whose start-up is done (slower start)")
}

// allowPaths is --allow-read / --allow-write: host directories mounted at
// the same path inside.
type allowPaths struct {
	mounts *[]Mount
	ro     bool
	last   []string // absolute, for kernel.json
}

func (a *allowPaths) String() string {
	if a == nil {
		return ""
	}
	return strings.Join(a.last, ",")
}

func (a *allowPaths) Set(s string) error {
	a.last = nil
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p == "" {
			continue
		}
		abs, err := filepath.Abs(p)
		if err != nil {
			return err
		}
		if strings.Contains(abs, ":") {
			return fmt.Errorf("%q: paths containing ':' cannot be mounted", abs)
		}
		*a.mounts = append(*a.mounts, Mount{Host: abs, Guest: abs, ReadOnly: a.ro})
		a.last = append(a.last, abs)
	}
	if len(a.last) == 0 {
		return errors.New("no path given")
	}
	return nil
}

// allowEnv is --allow-env[=VAR,...].
type allowEnv struct{ o *runtimeOptions }

func (a *allowEnv) IsBoolFlag() bool { return true }

func (a *allowEnv) String() string {
	if a == nil || a.o == nil {
		return ""
	}
	if a.o.AllowAllEnv {
		return "true"
	}
	return strings.Join(a.o.AllowEnv, ",")
}

func (a *allowEnv) Set(s string) error {
	if s == "true" || s == "" {
		a.o.AllowAllEnv = true
		return nil
	}
	for _, v := range strings.Split(s, ",") {
		if v = strings.TrimSpace(v); v == "" || strings.ContainsAny(v, "= \x00") {
			return fmt.Errorf("bad variable name %q in --allow-env", v)
		}
		a.o.AllowEnv = append(a.o.AllowEnv, v)
	}
	return nil
}

// memoryFlag is --memory=SIZE, in MiB underneath.
type memoryFlag int

func (m *memoryFlag) String() string {
	if m == nil || *m == 0 {
		return ""
	}
	return fmt.Sprintf("%dM", int(*m))
}

func (m *memoryFlag) Set(s string) error {
	v, ok := parseSize(s, 1<<20)
	if !ok {
		return fmt.Errorf("bad size %q: use a number of MiB or a size such as 512M or 2G", s)
	}
	*m = memoryFlag(v / (1 << 20))
	if *m < 64 {
		return fmt.Errorf("--memory %s is too small: CPython needs at least 64M", s)
	}
	return nil
}

// parseSize reads a size with an optional K, M or G (binary multiples, an
// optional "iB" or "B" after them) in bytes; a bare number counts unit bytes.
func parseSize(s string, unit float64) (float64, bool) {
	t := strings.ToUpper(strings.TrimSpace(s))
	t = strings.TrimSuffix(strings.TrimSuffix(t, "B"), "I")
	mul := unit
	switch {
	case strings.HasSuffix(t, "G"):
		mul, t = 1<<30, t[:len(t)-1]
	case strings.HasSuffix(t, "M"):
		mul, t = 1<<20, t[:len(t)-1]
	case strings.HasSuffix(t, "K"):
		mul, t = 1<<10, t[:len(t)-1]
	}
	v, err := strconv.ParseFloat(t, 64)
	if err != nil || v <= 0 {
		return 0, false
	}
	return v * mul, true
}

// check validates what flag parsing cannot.
func (o *kernelOptions) check() error {
	o.runtime.CellTimeout = o.cellTimeout
	if o.cellTimeout < 0 {
		return errors.New("--cell-timeout must not be negative")
	}
	if o.runtime.FetchTimeout < 0 {
		return errors.New("--fetch-timeout must not be negative")
	}
	if o.runtime.MemoryLimitMiB < 0 {
		return errors.New("--memory-limit must not be negative")
	}
	for _, p := range []*string{&o.runtime.RuntimeDir, &o.runtime.CacheDir} {
		if *p != "" {
			abs, err := filepath.Abs(*p)
			if err != nil {
				return err
			}
			*p = abs
		}
	}
	return nil
}

// byteSize is a size in bytes given as a number with an optional K, M or G
// (binary multiples).
type byteSize int64

func (b *byteSize) String() string {
	if b == nil || *b == 0 {
		return ""
	}
	return strconv.FormatInt(int64(*b), 10)
}

func (b *byteSize) Set(s string) error {
	v, ok := parseSize(s, 1)
	if !ok || v < 1 || v > 1<<40 {
		return fmt.Errorf("bad size %q: use a number of bytes or a size such as 500K, 64M or 1G", s)
	}
	*b = byteSize(v)
	return nil
}

type levelFlag slog.Level

func (l *levelFlag) String() string { return strings.ToLower(slog.Level(*l).String()) }

func (l *levelFlag) Set(s string) error {
	switch strings.ToLower(s) {
	case "debug":
		*l = levelFlag(slog.LevelDebug)
	case "info":
		*l = levelFlag(slog.LevelInfo)
	case "warn", "warning":
		*l = levelFlag(slog.LevelWarn)
	case "error":
		*l = levelFlag(slog.LevelError)
	default:
		return fmt.Errorf("unknown level %q: use debug, info, warn or error", s)
	}
	return nil
}

type mountFlag []Mount

func (m *mountFlag) String() string {
	if m == nil || len(*m) == 0 {
		return ""
	}
	return (*m)[len(*m)-1].String()
}

// String is the flag value that gives m back.
func (m Mount) String() string {
	s := m.Host
	if m.Guest != m.Host {
		s += ":" + m.Guest
	}
	if m.ReadOnly {
		s += ":ro"
	}
	return s
}

func (m *mountFlag) Set(s string) error {
	mt, err := parseMount(s)
	if err != nil {
		return err
	}
	*m = append(*m, mt)
	return nil
}

// parseMount parses HOST[:GUEST][:ro|:rw]. HOST is made absolute; GUEST
// must be absolute. Paths containing ':' cannot be mounted.
func parseMount(s string) (Mount, error) {
	parts := strings.Split(s, ":")
	var m Mount
	if n := len(parts); n > 1 && (parts[n-1] == "ro" || parts[n-1] == "rw") {
		m.ReadOnly = parts[n-1] == "ro"
		parts = parts[:n-1]
	}
	if len(parts) > 2 || parts[0] == "" {
		return Mount{}, fmt.Errorf("bad mount %q: use HOST[:GUEST][:ro]", s)
	}
	host, err := filepath.Abs(parts[0])
	if err != nil {
		return Mount{}, fmt.Errorf("mount %q: %w", s, err)
	}
	m.Host, m.Guest = host, host
	if len(parts) == 2 {
		if !strings.HasPrefix(parts[1], "/") {
			return Mount{}, fmt.Errorf("bad mount %q: the guest path must be absolute", s)
		}
		m.Guest = filepath.Clean(parts[1])
	}
	return m, nil
}

type envFlag map[string]string

func (e envFlag) String() string {
	keys := make([]string, 0, len(e))
	for k := range e {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	for i, k := range keys {
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(k + "=" + strconv.Quote(e[k]))
	}
	return b.String()
}

func (e envFlag) Set(s string) error {
	k, v, ok := strings.Cut(s, "=")
	if !ok || k == "" || strings.ContainsAny(k, "\x00") || strings.ContainsRune(v, 0) {
		return fmt.Errorf("bad environment variable %q: use NAME=VALUE", s)
	}
	e[k] = v
	return nil
}

// recorder wraps a kernel flag registered on install's flag set: it sets
// the value (which validates it) and records the flag, normalised, for
// kernel.json's argv.
type recorder struct {
	name string
	v    flag.Value
	args *[]string
}

func (r recorder) String() string {
	if r.v == nil {
		return ""
	}
	return r.v.String()
}

func (r recorder) Set(s string) error {
	if err := r.v.Set(s); err != nil {
		return err
	}
	val := s
	switch v := r.v.(type) {
	case *mountFlag:
		val = v.String() // the absolute form: the kernel runs elsewhere
	case *levelFlag:
		val = v.String()
	case *allowPaths:
		val = v.String() // absolute paths
	case *memoryFlag:
		val = v.String()
	}
	if b, ok := r.v.(interface{ IsBoolFlag() bool }); ok && b.IsBoolFlag() {
		*r.args = append(*r.args, "--"+r.name+"="+val)
		return nil
	}
	*r.args = append(*r.args, "--"+r.name, val)
	return nil
}

// IsBoolFlag lets a recorded flag that may stand alone (--allow-net) do so.
func (r recorder) IsBoolFlag() bool {
	b, ok := r.v.(interface{ IsBoolFlag() bool })
	return ok && b.IsBoolFlag()
}

// netFlag is --allow-net[=HOST[:PORT],...]: alone, public addresses; with a
// list, those hosts (repeatable, adding up).
type netFlag loop.NetPolicy

func (n *netFlag) IsBoolFlag() bool { return true }

func (n *netFlag) String() string {
	if n == nil {
		return ""
	}
	if n.Public && len(n.Hosts) == 0 {
		return "true"
	}
	return strings.Join(n.Hosts, ",")
}

func (n *netFlag) Set(s string) error {
	switch s {
	case "true", "":
		n.Public = true
		return nil
	case "false":
		return errors.New("--allow-net=false: leave the flag out to allow no network")
	}
	for _, h := range strings.Split(s, ",") {
		h = strings.TrimSpace(h)
		if h == "" || strings.ContainsAny(h, "/ ") {
			return fmt.Errorf("bad host %q in --allow-net: use HOST or HOST:PORT", h)
		}
		n.Hosts = append(n.Hosts, h)
	}
	return nil
}
