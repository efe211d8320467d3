package wasmpy

import (
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"

	experimentalsys "github.com/tetratelabs/wazero/experimental/sys"
	"github.com/tetratelabs/wazero/experimental/sysfs"
	"github.com/tetratelabs/wazero/sys"
)

// confinedFS is a host directory mounted in the sandbox whose symlinks can
// never lead out of it. wazero's DirFS lets the host follow symlinks, so a
// relative link made inside a mount (`ln -s ../../etc/passwd x`) or an
// absolute one would reach any host file. Every path the guest names is
// resolved here first, component by component, following symlinks only while
// they stay inside the directory; a path that would leave it fails with
// EACCES, and symlinks with absolute targets or targets outside the directory
// cannot be created.
type confinedFS struct {
	experimentalsys.FS
	root string
}

// maxSymlinkHops bounds symlink resolution, as the kernel's ELOOP does.
const maxSymlinkHops = 40

func newConfinedFS(dir string, readOnly bool) (experimentalsys.FS, error) {
	root, err := filepath.Abs(dir)
	if err != nil {
		return nil, err
	}
	if root, err = filepath.EvalSymlinks(root); err != nil {
		return nil, err
	}
	var inner experimentalsys.FS = sysfs.DirFS(root)
	if readOnly {
		inner = &sysfs.ReadFS{FS: inner}
	}
	return &confinedFS{FS: inner, root: root}, nil
}

// check resolves name (relative to the root, as wazero passes it) and fails
// if the walk leaves the root. followFinal says whether a symlink in the last
// component is followed (not for lstat, unlink, readlink, rename).
func (c *confinedFS) check(name string, followFinal bool) experimentalsys.Errno {
	parts := splitPath(name)
	var cur []string // resolved components below the root
	hops := 0
	for len(parts) > 0 {
		p := parts[0]
		parts = parts[1:]
		switch p {
		case "", ".":
			continue
		case "..":
			if len(cur) == 0 {
				return experimentalsys.EACCES
			}
			cur = cur[:len(cur)-1]
			continue
		}
		next := append(cur[:len(cur):len(cur)], p)
		if len(parts) == 0 && !followFinal {
			return 0
		}
		host := filepath.Join(c.root, filepath.Join(next...))
		fi, err := os.Lstat(host)
		if err != nil {
			// Does not exist (yet): nothing below can be a link.
			return 0
		}
		if fi.Mode()&fs.ModeSymlink == 0 {
			cur = next
			continue
		}
		if hops++; hops > maxSymlinkHops {
			return experimentalsys.ELOOP
		}
		target, err := os.Readlink(host)
		if err != nil {
			return experimentalsys.EACCES
		}
		if filepath.IsAbs(target) {
			return experimentalsys.EACCES
		}
		parts = append(splitPath(target), parts...)
	}
	return 0
}

func splitPath(p string) []string {
	return strings.Split(filepath.ToSlash(p), "/")
}

func (c *confinedFS) OpenFile(name string, flag experimentalsys.Oflag, perm fs.FileMode) (experimentalsys.File, experimentalsys.Errno) {
	if e := c.check(name, flag&experimentalsys.O_NOFOLLOW == 0); e != 0 {
		return nil, e
	}
	return c.FS.OpenFile(name, flag, perm)
}

func (c *confinedFS) Lstat(name string) (sys.Stat_t, experimentalsys.Errno) {
	if e := c.check(name, false); e != 0 {
		return sys.Stat_t{}, e
	}
	return c.FS.Lstat(name)
}

func (c *confinedFS) Stat(name string) (sys.Stat_t, experimentalsys.Errno) {
	if e := c.check(name, true); e != 0 {
		return sys.Stat_t{}, e
	}
	return c.FS.Stat(name)
}

func (c *confinedFS) Mkdir(name string, perm fs.FileMode) experimentalsys.Errno {
	if e := c.check(name, false); e != 0 {
		return e
	}
	return c.FS.Mkdir(name, perm)
}

func (c *confinedFS) Chmod(name string, perm fs.FileMode) experimentalsys.Errno {
	if e := c.check(name, true); e != 0 {
		return e
	}
	return c.FS.Chmod(name, perm)
}

func (c *confinedFS) Rename(from, to string) experimentalsys.Errno {
	if e := c.check(from, false); e != 0 {
		return e
	}
	if e := c.check(to, false); e != 0 {
		return e
	}
	return c.FS.Rename(from, to)
}

func (c *confinedFS) Rmdir(name string) experimentalsys.Errno {
	if e := c.check(name, false); e != 0 {
		return e
	}
	return c.FS.Rmdir(name)
}

func (c *confinedFS) Unlink(name string) experimentalsys.Errno {
	if e := c.check(name, false); e != 0 {
		return e
	}
	return c.FS.Unlink(name)
}

func (c *confinedFS) Link(oldName, newName string) experimentalsys.Errno {
	if e := c.check(oldName, false); e != 0 {
		return e
	}
	if e := c.check(newName, false); e != 0 {
		return e
	}
	return c.FS.Link(oldName, newName)
}

// Symlink refuses links whose target, seen from the link's directory, would
// leave the root (absolute targets included).
func (c *confinedFS) Symlink(target, linkName string) experimentalsys.Errno {
	if e := c.check(linkName, false); e != 0 {
		return e
	}
	if filepath.IsAbs(target) {
		return experimentalsys.EPERM
	}
	joined := path.Join(path.Dir(filepath.ToSlash(linkName)), filepath.ToSlash(target))
	if joined == ".." || strings.HasPrefix(joined, "../") || strings.HasPrefix(joined, "/") {
		return experimentalsys.EPERM
	}
	return c.FS.Symlink(target, linkName)
}

func (c *confinedFS) Readlink(name string) (string, experimentalsys.Errno) {
	if e := c.check(name, false); e != 0 {
		return "", e
	}
	return c.FS.Readlink(name)
}

func (c *confinedFS) Utimens(name string, atim, mtim int64) experimentalsys.Errno {
	if e := c.check(name, true); e != 0 {
		return e
	}
	return c.FS.Utimens(name, atim, mtim)
}
