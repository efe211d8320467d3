package wasmpy

import (
	"bytes"
	"compress/flate"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path"
	"sort"
	"strings"
	"time"
)

// zipFS serves a zip archive as a read-only fs.FS whose regular files can be
// seeked and read at offsets (CPython seeks in .pyc, zoneinfo and sqlite
// files). Stored entries are read in place from the archive; deflated ones
// are inflated into memory when opened.
//
// It keeps a compact index of the central directory (the standard library's
// archive holds some 12,000 entries; archive/zip's structures for them took
// megabytes of every kernel's heap): one string of all names and a small
// record per entry, directories (listed or implied) included.
type zipFS struct {
	ra      io.ReaderAt
	names   string     // all paths, back to back
	entries []zipEntry // sorted by path
	kids    [][]int32  // per entry that is a directory: its children, sorted
	root    []int32    // the children of "."
}

type zipEntry struct {
	name       uint32 // offset into names
	nameLen    uint16
	dir        bool
	method     uint16
	header     uint64 // offset of the local file header
	compSize   uint64
	size       uint64
	modUnixSec int64
}

func (z *zipFS) path(e *zipEntry) string { return z.names[e.name : e.name+uint32(e.nameLen)] }

var errNotZip = errors.New("not a zip archive")

func newZipFS(ra io.ReaderAt, size int64) (*zipFS, error) {
	cdOff, cdSize, count, err := readEOCD(ra, size)
	if err != nil {
		return nil, err
	}
	if cdSize > uint64(size) || cdOff > uint64(size)-cdSize {
		return nil, fmt.Errorf("%w: central directory out of bounds", errNotZip)
	}
	cd := make([]byte, cdSize)
	if _, err := ra.ReadAt(cd, int64(cdOff)); err != nil {
		return nil, fmt.Errorf("read central directory: %w", err)
	}
	type raw struct {
		name string
		e    zipEntry
	}
	all := make([]raw, 0, min(count, uint64(len(cd)/46)))
	for p := cd; len(p) > 0; {
		if len(p) < 46 || binary.LittleEndian.Uint32(p) != 0x02014b50 {
			return nil, fmt.Errorf("%w: bad central directory entry", errNotZip)
		}
		creator := binary.LittleEndian.Uint16(p[4:])
		flags := binary.LittleEndian.Uint16(p[8:])
		e := zipEntry{method: binary.LittleEndian.Uint16(p[10:])}
		dosTime, dosDate := binary.LittleEndian.Uint16(p[12:]), binary.LittleEndian.Uint16(p[14:])
		e.compSize = uint64(binary.LittleEndian.Uint32(p[20:]))
		e.size = uint64(binary.LittleEndian.Uint32(p[24:]))
		n, m, k := int(binary.LittleEndian.Uint16(p[28:])), int(binary.LittleEndian.Uint16(p[30:])), int(binary.LittleEndian.Uint16(p[32:]))
		ext := binary.LittleEndian.Uint32(p[38:])
		e.header = uint64(binary.LittleEndian.Uint32(p[42:]))
		if len(p) < 46+n+m+k {
			return nil, fmt.Errorf("%w: truncated central directory", errNotZip)
		}
		name := string(p[46 : 46+n])
		if flags&0x1 != 0 {
			return nil, fmt.Errorf("%s: encrypted entries are not supported", name)
		}
		e.modUnixSec = dosTimeUTC(dosDate, dosTime)
		if err := zipExtras(p[46+n:46+n+m], &e); err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		p = p[46+n+m+k:]
		switch creator >> 8 {
		case 3, 19: // Unix, macOS: the mode is in the high half
			e.dir = ext>>16&0o170000 == 0o040000
		case 0, 11, 14: // FAT, NTFS, VFAT
			e.dir = ext&0x10 != 0
		}
		if strings.HasSuffix(name, "/") {
			e.dir = true
			name = strings.TrimSuffix(name, "/")
		}
		if !fs.ValidPath(name) || name == "." {
			continue // absolute, "..", or otherwise not addressable: skipped as archive/zip's fs does
		}
		all = append(all, raw{name, e})
	}
	// Implied directories: every parent of a path. (The names are copied out
	// of the directory; the index below keeps one string of them all.)
	seen := make(map[string]bool, len(all))
	for _, r := range all {
		seen[r.name] = true
	}
	for i := 0; i < len(all); i++ {
		for d := path.Dir(all[i].name); d != "."; d = path.Dir(d) {
			if seen[d] {
				break
			}
			seen[d] = true
			all = append(all, raw{d, zipEntry{dir: true}})
		}
	}
	sort.SliceStable(all, func(i, j int) bool { return all[i].name < all[j].name })
	z := &zipFS{ra: ra, entries: make([]zipEntry, 0, len(all))}
	var names strings.Builder
	for i, r := range all {
		if i > 0 && all[i-1].name == r.name {
			continue // the first of duplicates wins
		}
		if len(r.name) > 0xffff || names.Len() > 1<<32-1-len(r.name) {
			return nil, fmt.Errorf("%w: names too long", errNotZip)
		}
		r.e.name, r.e.nameLen = uint32(names.Len()), uint16(len(r.name))
		names.WriteString(r.name)
		z.entries = append(z.entries, r.e)
	}
	z.names = names.String()
	z.kids = make([][]int32, len(z.entries))
	for i := range z.entries {
		parent := path.Dir(z.path(&z.entries[i]))
		if parent == "." {
			z.root = append(z.root, int32(i))
		} else if pi, ok := z.lookup(parent); ok && z.entries[pi].dir {
			z.kids[pi] = append(z.kids[pi], int32(i))
		}
	}
	return z, nil
}

// lookup finds the entry of a path.
func (z *zipFS) lookup(name string) (int, bool) {
	i := sort.Search(len(z.entries), func(i int) bool { return z.path(&z.entries[i]) >= name })
	return i, i < len(z.entries) && z.path(&z.entries[i]) == name
}

// readEOCD finds the end of central directory record (zip64 too) and
// returns where the central directory is, its size and its entry count.
func readEOCD(ra io.ReaderAt, size int64) (off, n, count uint64, err error) {
	tail := min(size, 22+65535+20)
	buf := make([]byte, tail)
	if _, err := ra.ReadAt(buf, size-tail); err != nil && !errors.Is(err, io.EOF) {
		return 0, 0, 0, err
	}
	i := len(buf) - 22
	for ; i >= 0; i-- {
		if binary.LittleEndian.Uint32(buf[i:]) == 0x06054b50 {
			break
		}
	}
	if i < 0 {
		return 0, 0, 0, fmt.Errorf("%w: no end of central directory", errNotZip)
	}
	e := buf[i:]
	count = uint64(binary.LittleEndian.Uint16(e[10:]))
	n = uint64(binary.LittleEndian.Uint32(e[12:]))
	off = uint64(binary.LittleEndian.Uint32(e[16:]))
	if count != 0xffff && n != 0xffffffff && off != 0xffffffff {
		return off, n, count, nil
	}
	// Zip64: a locator just before, pointing at the zip64 record.
	if i < 20 || binary.LittleEndian.Uint32(buf[i-20:]) != 0x07064b50 {
		return 0, 0, 0, fmt.Errorf("%w: zip64 locator missing", errNotZip)
	}
	recOff := int64(binary.LittleEndian.Uint64(buf[i-20+8:]))
	rec := make([]byte, 56)
	if recOff < 0 || recOff > size-56 {
		return 0, 0, 0, fmt.Errorf("%w: zip64 record out of bounds", errNotZip)
	}
	if _, err := ra.ReadAt(rec, recOff); err != nil {
		return 0, 0, 0, err
	}
	if binary.LittleEndian.Uint32(rec) != 0x06064b50 {
		return 0, 0, 0, fmt.Errorf("%w: bad zip64 record", errNotZip)
	}
	return binary.LittleEndian.Uint64(rec[48:]), binary.LittleEndian.Uint64(rec[40:]), binary.LittleEndian.Uint64(rec[32:]), nil
}

// zipExtras applies the extra fields that matter here: zip64 sizes and
// offset, and the extended timestamp (as archive/zip reads them).
func zipExtras(x []byte, e *zipEntry) error {
	for len(x) >= 4 {
		id, n := binary.LittleEndian.Uint16(x), int(binary.LittleEndian.Uint16(x[2:]))
		if len(x) < 4+n {
			return fmt.Errorf("%w: bad extra field", errNotZip)
		}
		d := x[4 : 4+n]
		x = x[4+n:]
		switch id {
		case 0x0001: // zip64: the fields that overflowed, in this order
			for _, f := range []*uint64{&e.size, &e.compSize, &e.header} {
				if *f != 0xffffffff {
					continue
				}
				if len(d) < 8 {
					return fmt.Errorf("%w: short zip64 field", errNotZip)
				}
				*f = binary.LittleEndian.Uint64(d)
				d = d[8:]
			}
		case 0x5455: // extended timestamp: flags, then mtime if bit 0
			if len(d) >= 5 && d[0]&1 != 0 {
				e.modUnixSec = int64(int32(binary.LittleEndian.Uint32(d[1:])))
			}
		}
	}
	return nil
}

// dosTimeUTC is an MS-DOS date and time, read as UTC (as archive/zip does).
func dosTimeUTC(d, t uint16) int64 {
	return time.Date(int(d>>9+1980), time.Month(d>>5&0xf), int(d&0x1f),
		int(t>>11), int(t>>5&0x3f), int(t&0x1f*2), 0, time.UTC).Unix()
}

func (z *zipFS) Open(name string) (fs.File, error) {
	if !fs.ValidPath(name) {
		return nil, &fs.PathError{Op: "open", Path: name, Err: fs.ErrInvalid}
	}
	if name == "." {
		return &zipDir{z: z, info: zipInfo{name: ".", dir: true}, kids: z.root}, nil
	}
	i, ok := z.lookup(name)
	if !ok {
		return nil, &fs.PathError{Op: "open", Path: name, Err: fs.ErrNotExist}
	}
	e := &z.entries[i]
	info := z.info(e)
	if e.dir {
		return &zipDir{z: z, info: info, kids: z.kids[i]}, nil
	}
	off, err := z.dataOffset(e)
	if err != nil {
		return nil, &fs.PathError{Op: "open", Path: name, Err: err}
	}
	switch e.method {
	case 0:
		return &zipFile{SectionReader: io.NewSectionReader(z.ra, off, int64(e.size)), info: info}, nil
	case 8:
		b, err := io.ReadAll(io.LimitReader(flate.NewReader(io.NewSectionReader(z.ra, off, int64(e.compSize))), int64(e.size)+1))
		if err != nil || uint64(len(b)) != e.size {
			if err == nil {
				err = errors.New("size differs from the directory's")
			}
			return nil, &fs.PathError{Op: "read", Path: name, Err: fmt.Errorf("inflate: %w", err)}
		}
		return &zipFile{SectionReader: io.NewSectionReader(bytes.NewReader(b), 0, int64(len(b))), info: info}, nil
	default:
		return nil, &fs.PathError{Op: "open", Path: name, Err: fmt.Errorf("compression method %d not supported", e.method)}
	}
}

// dataOffset reads the entry's local header to find where its data starts.
func (z *zipFS) dataOffset(e *zipEntry) (int64, error) {
	var h [30]byte
	if _, err := z.ra.ReadAt(h[:], int64(e.header)); err != nil {
		return 0, fmt.Errorf("local header: %w", err)
	}
	if binary.LittleEndian.Uint32(h[:]) != 0x04034b50 {
		return 0, fmt.Errorf("%w: bad local header", errNotZip)
	}
	return int64(e.header) + 30 + int64(binary.LittleEndian.Uint16(h[26:])) + int64(binary.LittleEndian.Uint16(h[28:])), nil
}

func (z *zipFS) info(e *zipEntry) zipInfo {
	return zipInfo{name: path.Base(z.path(e)), size: int64(e.size), mod: e.modUnixSec, dir: e.dir}
}

type zipFile struct {
	*io.SectionReader
	info zipInfo
}

func (f *zipFile) Stat() (fs.FileInfo, error) { return f.info, nil }
func (f *zipFile) Close() error               { return nil }

// zipDir is an open directory: fs.ReadDirFile.
type zipDir struct {
	z    *zipFS
	info zipInfo
	kids []int32
	next int
}

func (d *zipDir) Stat() (fs.FileInfo, error) { return d.info, nil }
func (d *zipDir) Close() error               { return nil }
func (d *zipDir) Read([]byte) (int, error) {
	return 0, &fs.PathError{Op: "read", Path: d.info.name, Err: errors.New("is a directory")}
}

func (d *zipDir) ReadDir(n int) ([]fs.DirEntry, error) {
	left := d.kids[d.next:]
	if n > 0 && len(left) == 0 {
		return nil, io.EOF
	}
	if n > 0 && n < len(left) {
		left = left[:n]
	}
	out := make([]fs.DirEntry, len(left))
	for i, k := range left {
		out[i] = fs.FileInfoToDirEntry(d.z.info(&d.z.entries[k]))
	}
	d.next += len(left)
	return out, nil
}

// zipInfo reports read-only permissions whatever the archive recorded.
type zipInfo struct {
	name string
	size int64
	mod  int64 // Unix seconds
	dir  bool
}

func (i zipInfo) Name() string { return i.name }
func (i zipInfo) Size() int64 {
	if i.dir {
		return 0
	}
	return i.size
}
func (i zipInfo) Mode() fs.FileMode {
	if i.dir {
		return fs.ModeDir | 0o555
	}
	return 0o444
}
func (i zipInfo) ModTime() time.Time { return time.Unix(i.mod, 0).UTC() }
func (i zipInfo) IsDir() bool        { return i.dir }
func (i zipInfo) Sys() any           { return nil }
