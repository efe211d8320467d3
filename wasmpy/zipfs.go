package wasmpy

import (
	"archive/zip"
	"bytes"
	"fmt"
	"io"
	"io/fs"
	"time"
)

// zipFS serves a zip archive as a read-only fs.FS whose regular files can be
// seeked and read at offsets (CPython seeks in .pyc, zoneinfo and sqlite
// files; archive/zip's own files only stream). Stored entries are read in
// place from the archive; deflated ones are inflated into memory when opened.
type zipFS struct {
	r     *zip.Reader
	ra    io.ReaderAt
	files map[string]*zip.File
}

func newZipFS(ra io.ReaderAt, size int64) (*zipFS, error) {
	r, err := zip.NewReader(ra, size)
	if err != nil {
		return nil, err
	}
	z := &zipFS{r: r, ra: ra, files: make(map[string]*zip.File, len(r.File))}
	for _, f := range r.File {
		z.files[f.Name] = f
	}
	return z, nil
}

func (z *zipFS) Open(name string) (fs.File, error) {
	f, ok := z.files[name]
	if !ok || f.FileInfo().IsDir() {
		// Directories (listed or implied) and errors: archive/zip knows best.
		return z.r.Open(name)
	}
	info := f.FileInfo()
	if f.Method == zip.Store {
		off, err := f.DataOffset()
		if err != nil {
			return nil, &fs.PathError{Op: "open", Path: name, Err: err}
		}
		return &zipFile{SectionReader: io.NewSectionReader(z.ra, off, int64(f.UncompressedSize64)), info: info}, nil
	}
	rc, err := f.Open()
	if err != nil {
		return nil, &fs.PathError{Op: "open", Path: name, Err: err}
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		return nil, &fs.PathError{Op: "read", Path: name, Err: fmt.Errorf("inflate: %w", err)}
	}
	return &zipFile{SectionReader: io.NewSectionReader(bytes.NewReader(b), 0, int64(len(b))), info: info}, nil
}

type zipFile struct {
	*io.SectionReader
	info fs.FileInfo
}

func (f *zipFile) Stat() (fs.FileInfo, error) { return zipInfo{f.info}, nil }
func (f *zipFile) Close() error               { return nil }

// zipInfo reports read-only permissions whatever the archive recorded.
type zipInfo struct{ fs.FileInfo }

func (i zipInfo) Mode() fs.FileMode  { return i.FileInfo.Mode()&fs.ModeType | 0o444 }
func (i zipInfo) ModTime() time.Time { return i.FileInfo.ModTime() }
