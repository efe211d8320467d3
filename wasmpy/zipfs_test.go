package wasmpy

import (
	"archive/zip"
	"bytes"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
	"testing/fstest"
	"time"
)

// sameAsArchiveZip checks that z serves what archive/zip's own fs.FS serves
// for the same archive: every file's bytes, size and time, and every
// directory's listing.
func sameAsArchiveZip(t *testing.T, z *zipFS, ref *zip.Reader) {
	t.Helper()
	files := 0
	err := fs.WalkDir(ref, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		want, err := d.Info()
		if err != nil {
			return err
		}
		got, err := fs.Stat(z, p)
		if err != nil {
			t.Errorf("%s: %v", p, err)
			return nil
		}
		if got.IsDir() != want.IsDir() || got.Name() != want.Name() {
			t.Errorf("%s: dir %v name %q, want %v %q", p, got.IsDir(), got.Name(), want.IsDir(), want.Name())
			return nil
		}
		if d.IsDir() {
			wl, _ := fs.ReadDir(ref, p)
			gl, err := fs.ReadDir(z, p)
			if err != nil || len(gl) != len(wl) {
				t.Errorf("%s: %d entries (%v), want %d", p, len(gl), err, len(wl))
				return nil
			}
			for i := range wl {
				if gl[i].Name() != wl[i].Name() || gl[i].IsDir() != wl[i].IsDir() {
					t.Errorf("%s: entry %d is %q (dir %v), want %q (dir %v)", p, i, gl[i].Name(), gl[i].IsDir(), wl[i].Name(), wl[i].IsDir())
				}
			}
			return nil
		}
		files++
		if got.Size() != want.Size() || !got.ModTime().Equal(want.ModTime()) || got.Mode() != 0o444 {
			t.Errorf("%s: size %d time %v mode %v, want %d %v 0444", p, got.Size(), got.ModTime(), got.Mode(), want.Size(), want.ModTime())
		}
		wb, err := fs.ReadFile(ref, p)
		if err != nil {
			return err
		}
		f, err := z.Open(p)
		if err != nil {
			t.Errorf("%s: %v", p, err)
			return nil
		}
		defer f.Close()
		gb, err := io.ReadAll(f)
		if err != nil || !bytes.Equal(gb, wb) {
			t.Errorf("%s: contents differ (%v)", p, err)
		}
		// Files seek and read at offsets.
		if len(wb) > 3 {
			ra := f.(io.ReaderAt)
			b := make([]byte, 2)
			if _, err := ra.ReadAt(b, int64(len(wb)-2)); err != nil || !bytes.Equal(b, wb[len(wb)-2:]) {
				t.Errorf("%s: ReadAt at the end: %q %v", p, b, err)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if files == 0 {
		t.Fatal("no files compared")
	}
}

func TestZipFSMatchesArchiveZip(t *testing.T) {
	var buf bytes.Buffer
	w := zip.NewWriter(&buf)
	when := time.Date(2024, 5, 6, 7, 8, 10, 0, time.UTC)
	add := func(h *zip.FileHeader, body string) {
		fw, err := w.CreateHeader(h)
		if err != nil {
			t.Fatal(err)
		}
		io.WriteString(fw, body)
	}
	add(&zip.FileHeader{Name: "top.txt", Method: zip.Store, Modified: when}, "top")
	add(&zip.FileHeader{Name: "pkg/", Method: zip.Store}, "")
	add(&zip.FileHeader{Name: "pkg/mod.py", Method: zip.Deflate, Modified: when}, string(bytes.Repeat([]byte("x = 1\n"), 1000)))
	add(&zip.FileHeader{Name: "implied/deeper/data.bin", Method: zip.Store}, "\x00\x01\x02\x03")
	add(&zip.FileHeader{Name: "implied/empty.txt", Method: zip.Deflate}, "")
	add(&zip.FileHeader{Name: "dos-time.txt", Method: zip.Store, ModifiedDate: 0x5821, ModifiedTime: 0x6000}, "old")
	w.SetComment("a comment")
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	b := buf.Bytes()
	ref, err := zip.NewReader(bytes.NewReader(b), int64(len(b)))
	if err != nil {
		t.Fatal(err)
	}
	z, err := newZipFS(bytes.NewReader(b), int64(len(b)))
	if err != nil {
		t.Fatal(err)
	}
	sameAsArchiveZip(t, z, ref)
	if err := fstest.TestFS(z, "top.txt", "pkg/mod.py", "implied/deeper/data.bin", "implied/empty.txt", "dos-time.txt"); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"missing", "pkg/missing.py", "top.txt/below"} {
		if _, err := z.Open(name); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("Open(%q) = %v, want ErrNotExist", name, err)
		}
	}
	for _, name := range []string{"/top.txt", "../top.txt", "pkg/../top.txt", ""} {
		if _, err := z.Open(name); !errors.Is(err, fs.ErrInvalid) {
			t.Errorf("Open(%q) = %v, want ErrInvalid", name, err)
		}
	}
}

// The runtime's own archive, entry by entry.
func TestZipFSStandardLibrary(t *testing.T) {
	dir, err := FindRuntimeDir()
	if err != nil {
		t.Skip(err)
	}
	p := filepath.Join(dir, "lib.zip")
	ref, err := zip.OpenReader(p)
	if err != nil {
		t.Fatal(err)
	}
	defer ref.Close()
	f, err := os.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	st, _ := f.Stat()
	z, err := newZipFS(f, st.Size())
	if err != nil {
		t.Fatal(err)
	}
	sameAsArchiveZip(t, z, &ref.Reader)
}

func TestZipFSRejectsGarbage(t *testing.T) {
	for name, b := range map[string][]byte{
		"empty":     nil,
		"text":      []byte("not a zip at all"),
		"bad dir":   append(bytes.Repeat([]byte{0}, 46), 0x50, 0x4b, 5, 6, 0, 0, 0, 0, 1, 0, 1, 0, 46, 0, 0, 0, 0, 0, 0, 0, 0, 0),
		"eocd only": {0x50, 0x4b, 5, 6, 0, 0, 0, 0, 1, 0, 1, 0, 99, 0, 0, 0, 0, 0, 0, 0, 0, 0},
	} {
		if _, err := newZipFS(bytes.NewReader(b), int64(len(b))); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

func FuzzZipFS(f *testing.F) {
	var buf bytes.Buffer
	w := zip.NewWriter(&buf)
	fw, _ := w.Create("a/b.txt")
	io.WriteString(fw, "hello")
	w.Close()
	f.Add(buf.Bytes())
	f.Fuzz(func(t *testing.T, b []byte) {
		z, err := newZipFS(bytes.NewReader(b), int64(len(b)))
		if err != nil {
			return
		}
		// Whatever it indexed can be walked and opened without a panic,
		// and names stay inside the archive.
		var names []string
		_ = fs.WalkDir(z, ".", func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				return nil
			}
			if !fs.ValidPath(p) {
				t.Fatalf("walked to %q", p)
			}
			names = append(names, p)
			if !d.IsDir() {
				if f, err := z.Open(p); err == nil {
					io.Copy(io.Discard, io.LimitReader(f, 1<<20))
					f.Close()
				}
			}
			return nil
		})
		if len(names) == 0 || names[0] != "." {
			t.Fatalf("walk did not start at the root: %q", names)
		}
	})
}
