package wasmpy

// Snapshots: an interpreter frozen after its start-up (CPython's and
// IPython's initialisation, about a second), restored in later processes in
// tens of milliseconds instead.
//
// What is saved: the guest's linear memory, which holds all of CPython's
// state, and the files of the scratch directory (IPython's profile, the
// history database). What is not: the mutable wasm globals (the only one,
// the stack pointer, is back at its initial value whenever no call runs) and
// the host's state, which a restored interpreter rebuilds from the same
// Config: the WASI file descriptors (the mounts, in the same order; the guest
// must hold no other file open, see Interpreter.Snapshot), the host functions
// (registered again) and the handle tables of the packages that registered
// them (which must hold nothing at snapshot time: KernelConfig.Quiescent).
//
// A snapshot is only valid for the inputs it was made from; its key (see
// Runtime.SnapshotKey) names them all (of the environment, the variables
// start-up reads; the others are set when the snapshot is thawed), and a store keeps one file per key in
// a directory private to the user. Values derived from randomness during
// start-up are shared by the interpreters restored from one snapshot: the
// kernel reseeds the random module after a restore, but CPython's string
// hash secret stays the snapshot's (a new snapshot, made whenever an input
// changes, draws a new one).

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"hash/crc32"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"
)

const (
	snapMagic     = "WASMPY-SNAPSHOT-2\n"
	snapPage      = 4096
	snapMaxFiles  = 16 << 20 // bytes of scratch files a snapshot may hold
	snapKeepFiles = 4        // snapshots a store keeps (other keys are pruned)
)

// Snapshot is an idle interpreter's state: its linear memory, kept sparse
// (pages of zeros are not stored), and the files of its scratch directory.
type Snapshot struct {
	release  func() // unmaps and closes the file the snapshot was read from
	key      string
	size     uint32 // bytes of linear memory
	present  []byte // bit i: page i is stored (not all zeros)
	data     []byte // made by Interpreter.Snapshot: the stored pages, in order
	image    []byte // decoded: the whole memory (size bytes)
	file     *os.File
	imageOff int64 // where image starts in file
	files    []snapFile
}

type snapFile struct {
	path string // slash-separated, relative to the scratch directory
	dir  bool
	data []byte
}

// Release frees the memory of a snapshot read from a store; it must not be
// used afterwards. Interpreters restored from it do not need it.
func (s *Snapshot) Release() {
	if s.release != nil {
		s.release()
		s.release = nil
	}
	s.present, s.data, s.image, s.file, s.files = nil, nil, nil, nil, nil
}

// Key is what the snapshot was made from (see Runtime.SnapshotKey).
func (s *Snapshot) Key() string { return s.key }

// MemorySize is the size of the linear memory the snapshot restores.
func (s *Snapshot) MemorySize() uint32 { return s.size }

// StoredBytes is how much memory the snapshot holds (its pages that are not
// all zeros).
func (s *Snapshot) StoredBytes() int {
	n := 0
	for _, x := range s.present {
		for ; x != 0; x &= x - 1 {
			n++
		}
	}
	return n * snapPage
}

// Snapshot freezes the interpreter, which must be idle: it copies its linear
// memory and the files of its scratch directory. The guest must hold no file
// open other than its mounts (a restored interpreter would not have it); the
// caller closes them first (the kernel's freeze step). key says what the
// state depends on (Runtime.SnapshotKey).
func (in *Interpreter) Snapshot(key string) (*Snapshot, error) {
	if err := in.Dead(); err != nil {
		return nil, fmt.Errorf("snapshot: %w", err)
	}
	if in.gen.Load()%2 == 1 || in.depth > 0 {
		return nil, errors.New("snapshot: the interpreter is running")
	}
	mem := in.mod.Memory()
	live, ok := mem.Read(0, mem.Size())
	if !ok || len(live)%snapPage != 0 {
		return nil, errors.New("snapshot: cannot read linear memory")
	}
	s := &Snapshot{key: key, size: uint32(len(live))}
	pages := len(live) / snapPage
	s.present = make([]byte, (pages+7)/8)
	var zero [snapPage]byte
	for p := 0; p < pages; p++ {
		page := live[p*snapPage : (p+1)*snapPage]
		if bytes.Equal(page, zero[:]) {
			continue
		}
		s.present[p/8] |= 1 << (p % 8)
		s.data = append(s.data, page...)
	}
	total := 0
	err := filepath.WalkDir(in.scratch, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(in.scratch, path)
		if err != nil || rel == "." {
			return err
		}
		f := snapFile{path: filepath.ToSlash(rel), dir: d.IsDir()}
		switch {
		case d.IsDir():
		case d.Type().IsRegular():
			if f.data, err = os.ReadFile(path); err != nil {
				return err
			}
			if total += len(f.data); total > snapMaxFiles {
				return fmt.Errorf("the scratch directory holds more than %d bytes", snapMaxFiles)
			}
		default:
			return fmt.Errorf("%s is neither a regular file nor a directory", rel)
		}
		s.files = append(s.files, f)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("snapshot: scratch directory: %w", err)
	}
	return s, nil
}

// restoreFiles recreates the snapshot's scratch files under dir.
func (s *Snapshot) restoreFiles(dir string) error {
	for _, f := range s.files {
		p := filepath.Join(dir, filepath.FromSlash(f.path))
		if !strings.HasPrefix(p, dir+string(filepath.Separator)) {
			return fmt.Errorf("restore: bad path %q", f.path)
		}
		if f.dir {
			if err := os.MkdirAll(p, 0o700); err != nil {
				return fmt.Errorf("restore: %w", err)
			}
			continue
		}
		if err := os.WriteFile(p, f.data, 0o600); err != nil {
			return fmt.Errorf("restore: %w", err)
		}
	}
	return nil
}

// runs calls f for each run of consecutive stored pages: the index of its
// first page, and its bytes.
func (s *Snapshot) runs(f func(first int, b []byte) error) error {
	pages := int(s.size) / snapPage
	off := 0
	for p := 0; p < pages; {
		if s.present[p/8]&(1<<(p%8)) == 0 {
			p++
			continue
		}
		q := p + 1
		for q < pages && s.present[q/8]&(1<<(q%8)) != 0 {
			q++
		}
		n := (q - p) * snapPage
		var b []byte
		if s.image != nil {
			b = s.image[p*snapPage : q*snapPage]
		} else {
			b = s.data[off : off+n]
			off += n
		}
		if err := f(p, b); err != nil {
			return err
		}
		p = q
	}
	return nil
}

// restoreMemory makes the guest's linear memory the snapshot's: by mapping
// the snapshot's file over it, copy-on-write, where the memory is a mapping
// of ours (pages come in as the guest touches them, and kernels restored
// from one snapshot share those it only reads), else by copying.
func (in *Interpreter) restoreMemory(s *Snapshot) error {
	mem := in.mod.Memory()
	cur := mem.Size()
	if s.size%65536 != 0 || s.size < cur {
		return fmt.Errorf("restore: snapshot memory of %d bytes does not fit a fresh instance's %d", s.size, cur)
	}
	if s.size > cur {
		if _, ok := mem.Grow((s.size - cur) / 65536); !ok {
			return fmt.Errorf("restore: cannot grow memory to %d MiB (the memory limit is lower?)", s.size>>20)
		}
	}
	buf, ok := mem.Read(0, s.size)
	if !ok {
		return errors.New("restore: cannot write linear memory")
	}
	if s.file != nil && in.mem != nil {
		err := in.mem.mapFile(s.file, s.imageOff, int(s.size))
		if err == nil {
			return nil
		}
		in.log.Debug("restore: cannot map the snapshot; copying it", "err", err)
	}
	var zero [snapPage]byte
	next := 0 // the first page not yet restored
	clearTo := func(end int) {
		for p := next; p < end && uint32(p*snapPage) < cur; p++ {
			// Beyond cur, grown memory is zero already; reading a zero page
			// first keeps it from being made resident.
			if page := buf[p*snapPage : (p+1)*snapPage]; !bytes.Equal(page, zero[:]) {
				clear(page)
			}
		}
	}
	_ = s.runs(func(first int, b []byte) error {
		clearTo(first)
		copy(buf[first*snapPage:], b)
		next = first + len(b)/snapPage
		return nil
	})
	clearTo(int(s.size) / snapPage)
	return nil
}

// The file format: a header, a CRC-32C over the header and the stored
// pages, zeros up to a page boundary, then the linear memory as it lies in
// the guest, pages of zeros left as holes. A restore maps that image.
//
//	magic
//	uvarint len(key), key
//	uvarint memory size
//	uvarint file count, then each: uvarint len(path), path, dir flag, uvarint len(data), data
//	present bitmap (bit i: page i is stored)
//	uint32 CRC-32C (little-endian)
//	zeros to a multiple of snapPage
//	image: memory size bytes

// header encodes what precedes the checksum, and where the image starts.
func (s *Snapshot) header() (hdr []byte, imageOff int64) {
	var b []byte
	b = append(b, snapMagic...)
	b = binary.AppendUvarint(b, uint64(len(s.key)))
	b = append(b, s.key...)
	b = binary.AppendUvarint(b, uint64(s.size))
	b = binary.AppendUvarint(b, uint64(len(s.files)))
	for _, f := range s.files {
		b = binary.AppendUvarint(b, uint64(len(f.path)))
		b = append(b, f.path...)
		if f.dir {
			b = append(b, 1)
		} else {
			b = append(b, 0)
		}
		b = binary.AppendUvarint(b, uint64(len(f.data)))
		b = append(b, f.data...)
	}
	b = append(b, s.present...)
	return b, int64(roundUp(len(b)+4, snapPage))
}

func roundUp(n, m int) int { return (n + m - 1) / m * m }

// checksum is the CRC-32C of the header and the stored pages.
func (s *Snapshot) checksum(hdr []byte) uint32 {
	sum := crc32.Checksum(hdr, castagnoli)
	_ = s.runs(func(_ int, b []byte) error {
		sum = crc32.Update(sum, castagnoli, b)
		return nil
	})
	return sum
}

// MarshalBinary encodes the snapshot, its image written out in full.
func (s *Snapshot) MarshalBinary() ([]byte, error) {
	hdr, off := s.header()
	b := make([]byte, off+int64(s.size))
	copy(b, hdr)
	binary.LittleEndian.PutUint32(b[len(hdr):], s.checksum(hdr))
	_ = s.runs(func(first int, p []byte) error {
		copy(b[off+int64(first*snapPage):], p)
		return nil
	})
	return b, nil
}

// writeTo writes the snapshot into f, its image sparse.
func (s *Snapshot) writeTo(f *os.File) error {
	hdr, off := s.header()
	head := make([]byte, off)
	copy(head, hdr)
	binary.LittleEndian.PutUint32(head[len(hdr):], s.checksum(hdr))
	if _, err := f.WriteAt(head, 0); err != nil {
		return err
	}
	if err := s.runs(func(first int, p []byte) error {
		_, err := f.WriteAt(p, off+int64(first*snapPage))
		return err
	}); err != nil {
		return err
	}
	return f.Truncate(off + int64(s.size))
}

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// errCorrupt marks a snapshot file that cannot be decoded.
var errCorrupt = errors.New("corrupt snapshot")

// UnmarshalBinary decodes a snapshot that MarshalBinary encoded. It keeps
// references into b.
func (s *Snapshot) UnmarshalBinary(b []byte) error { return s.decode(b, true) }

// decode parses b, checking its checksum if verify.
func (s *Snapshot) decode(b []byte, verify bool) error {
	if len(b) < len(snapMagic) || string(b[:len(snapMagic)]) != snapMagic {
		return fmt.Errorf("%w: not a wasmpy snapshot of this version", errCorrupt)
	}
	r := b[len(snapMagic):]
	bad := fmt.Errorf("%w: truncated", errCorrupt)
	uv := func() (uint64, bool) {
		v, n := binary.Uvarint(r)
		if n <= 0 {
			return 0, false
		}
		r = r[n:]
		return v, true
	}
	take := func(n uint64) ([]byte, bool) {
		if n > uint64(len(r)) {
			return nil, false
		}
		out := r[:n]
		r = r[n:]
		return out, true
	}
	n, ok := uv()
	key, ok2 := take(n)
	if !ok || !ok2 {
		return bad
	}
	size, ok := uv()
	if !ok || size%65536 != 0 || size > 1<<32-65536 {
		return bad
	}
	nf, ok := uv()
	if !ok || nf > uint64(len(r)) {
		return bad
	}
	ns := &Snapshot{key: string(key), size: uint32(size)}
	for i := uint64(0); i < nf; i++ {
		pl, ok := uv()
		p, ok2 := take(pl)
		if !ok || !ok2 || len(r) < 1 || r[0] > 1 {
			return bad
		}
		f := snapFile{path: string(p), dir: r[0] == 1}
		r = r[1:]
		dl, ok := uv()
		d, ok2 := take(dl)
		if !ok || !ok2 || f.path == "" || strings.Contains(f.path, "..") || filepath.IsAbs(f.path) {
			return bad
		}
		f.data = d
		ns.files = append(ns.files, f)
	}
	pages := int(size / snapPage)
	present, ok := take(uint64((pages + 7) / 8))
	sum, ok2 := take(4)
	if !ok || !ok2 {
		return bad
	}
	hdr := b[:len(b)-len(r)-4]
	off := roundUp(len(hdr)+4, snapPage)
	if uint64(len(b)) != uint64(off)+size || !allZero(b[len(hdr)+4:off]) {
		return bad
	}
	ns.present, ns.image, ns.imageOff = present, b[off:], int64(off)
	if verify && ns.checksum(hdr) != binary.LittleEndian.Uint32(sum) {
		return fmt.Errorf("%w: checksum mismatch", errCorrupt)
	}
	*s = *ns
	return nil
}

func allZero(b []byte) bool {
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}

// SnapshotKey says what an interpreter's state after start-up depends on:
// the runtime's build, the project's Python packages, the binary, cfg (its
// environment, mounts and memory limit) and extra (what the caller's own
// start-up depends on, such as permissions). ok is false when cfg cannot be
// keyed (FSMounts are opaque): such interpreters are not snapshotted.
func (r *Runtime) SnapshotKey(cfg Config, extra string) (key string, ok bool) {
	if len(cfg.FSMounts) > 0 {
		return "", false
	}
	h := sha256.New()
	w := func(parts ...string) {
		for _, p := range parts {
			binary.Write(h, binary.LittleEndian, uint64(len(p)))
			h.Write([]byte(p))
		}
	}
	w(snapMagic, r.manifest.ID, fmt.Sprint(r.binSize, r.libSize, r.cfg.MemoryLimit), r.pylibHash(), executableID())
	keys := make([]string, 0, len(cfg.Env))
	for k := range cfg.Env {
		if startupEnv(k) {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	for _, k := range keys {
		w("env", k, cfg.Env[k])
	}
	for _, m := range cfg.Mounts {
		w("mount", m.Host, m.Guest, fmt.Sprint(m.ReadOnly))
	}
	w("extra", extra)
	return hex.EncodeToString(h.Sum(nil)), true
}

// startupEnv reports whether the environment variable name can change what
// CPython and IPython do while they start (and so belongs in a snapshot's
// key). The others are set when a snapshot is thawed: a kernel given the
// whole host environment, which varies from launch to launch, still starts
// from its snapshot.
func startupEnv(name string) bool {
	for _, p := range []string{"PYTHON", "IPYTHON", "JUPYTER", "WASMPY_", "LC_", "MPL"} {
		if strings.HasPrefix(name, p) {
			return true
		}
	}
	switch name {
	case "HOME", "LANG", "TERM", "TZ", "PAGER", "GIT_PAGER", "CLICOLOR", "COLUMNS", "LINES":
		return true
	}
	return false
}

// pylibHash is a digest of the embedded Python packages.
func (r *Runtime) pylibHash() string {
	r.pylibOnce.Do(func() {
		h := sha256.New()
		_ = fs.WalkDir(r.pylib, ".", func(p string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() {
				return err
			}
			b, err := fs.ReadFile(r.pylib, p)
			if err != nil {
				return err
			}
			fmt.Fprintf(h, "%s\x00%d\x00", p, len(b))
			h.Write(b)
			return nil
		})
		r.pylibSum = hex.EncodeToString(h.Sum(nil))
	})
	return r.pylibSum
}

// executableID names the running binary's build: its path, size and time.
func executableID() string {
	exe, err := os.Executable()
	if err != nil {
		return "unknown"
	}
	st, err := os.Stat(exe)
	if err != nil {
		return exe
	}
	return fmt.Sprint(exe, st.Size(), st.ModTime().UnixNano())
}

// SnapshotStore keeps snapshots as files in a directory that only the user
// can read, one per key, pruning the least recently used beyond a few.
type SnapshotStore struct {
	dir string
	log *slog.Logger
	mu  sync.Mutex
}

// NewSnapshotStore returns a store in dir (made on the first save).
func NewSnapshotStore(dir string, log *slog.Logger) *SnapshotStore {
	if log == nil {
		log = slog.Default()
	}
	return &SnapshotStore{dir: dir, log: log}
}

// Dir is where the store keeps its files.
func (st *SnapshotStore) Dir() string { return st.dir }

func (st *SnapshotStore) path(key string) string {
	sum := sha256.Sum256([]byte(key))
	return filepath.Join(st.dir, hex.EncodeToString(sum[:12])+".snap")
}

// Load returns the snapshot saved for key, nil if there is none, or an
// error if the file is corrupt or was made for another key.
func (st *SnapshotStore) Load(key string) (*Snapshot, error) {
	p := st.path(key)
	b, file, release, err := mapFile(p)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read snapshot: %w", err)
	}
	var s Snapshot
	if err := s.UnmarshalBinary(b); err != nil {
		release()
		return nil, fmt.Errorf("snapshot %s: %w", filepath.Base(p), err)
	}
	s.release, s.file = release, file
	if s.key != key {
		s.Release()
		return nil, fmt.Errorf("snapshot %s: %w: made for another key", filepath.Base(p), errCorrupt)
	}
	now := time.Now()
	_ = os.Chtimes(p, now, now) // most recently used
	return &s, nil
}

// Save writes s atomically (a partial file is never seen) and prunes old
// snapshots of other keys.
func (st *SnapshotStore) Save(s *Snapshot) error {
	st.mu.Lock()
	defer st.mu.Unlock()
	if err := os.MkdirAll(st.dir, 0o700); err != nil {
		return fmt.Errorf("save snapshot: %w", err)
	}
	tmp, err := os.CreateTemp(st.dir, ".snap-*")
	if err != nil {
		return fmt.Errorf("save snapshot: %w", err)
	}
	defer os.Remove(tmp.Name())
	if err := s.writeTo(tmp); err != nil {
		tmp.Close()
		return fmt.Errorf("save snapshot: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("save snapshot: %w", err)
	}
	if err := os.Rename(tmp.Name(), st.path(s.key)); err != nil {
		return fmt.Errorf("save snapshot: %w", err)
	}
	st.prune()
	return nil
}

// Writable reports why the store cannot save snapshots, or nil: checked
// before the work of making one.
func (st *SnapshotStore) Writable() error {
	if err := os.MkdirAll(st.dir, 0o700); err != nil {
		return err
	}
	f, err := os.CreateTemp(st.dir, ".probe-*")
	if err != nil {
		return err
	}
	f.Close()
	return os.Remove(f.Name())
}

// Remove deletes the snapshot of key, if any.
func (st *SnapshotStore) Remove(key string) {
	if err := os.Remove(st.path(key)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		st.log.Warn("remove snapshot", "err", err)
	}
}

func (st *SnapshotStore) prune() {
	ents, err := os.ReadDir(st.dir)
	if err != nil {
		return
	}
	type file struct {
		name string
		mod  int64
	}
	var files []file
	for _, e := range ents {
		if !strings.HasSuffix(e.Name(), ".snap") {
			continue
		}
		if info, err := e.Info(); err == nil {
			files = append(files, file{e.Name(), info.ModTime().UnixNano()})
		}
	}
	sort.Slice(files, func(i, j int) bool { return files[i].mod > files[j].mod })
	for _, f := range files[min(len(files), snapKeepFiles):] {
		_ = os.Remove(filepath.Join(st.dir, f.name))
	}
}
