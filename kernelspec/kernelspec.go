// Package kernelspec writes, installs and removes the Jupyter kernel spec of
// wasmpy: a directory holding kernel.json and the project's logos, placed in
// one of Jupyter's data directories the way `jupyter kernelspec install`
// places it.
//
// It owns the kernel.json content and the install locations. It must not
// start kernels or touch the wire protocol (messaging/, kernel/).
package kernelspec

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
)

// DefaultName is the kernel name used when none is given.
const DefaultName = "wasmpy"

// DisplayName is the name front ends show for the kernel.
const DisplayName = "Python 3.13 (wasmpy)"

// Spec is the content of kernel.json.
type Spec struct {
	Argv          []string          `json:"argv"`
	DisplayName   string            `json:"display_name"`
	Language      string            `json:"language"`
	InterruptMode string            `json:"interrupt_mode"`
	Env           map[string]string `json:"env,omitempty"`
	Metadata      map[string]any    `json:"metadata"`
}

// NewSpec returns the spec that starts binary (made absolute) as
// `binary kernel -f {connection_file} extra...`.
func NewSpec(binary string, extra []string) (Spec, error) {
	abs, err := filepath.Abs(binary)
	if err != nil {
		return Spec{}, fmt.Errorf("kernel spec: absolute path of %q: %w", binary, err)
	}
	argv := append([]string{abs, "kernel", "-f", "{connection_file}"}, extra...)
	return Spec{
		Argv:          argv,
		DisplayName:   DisplayName,
		Language:      "python",
		InterruptMode: "message",
		Metadata:      map[string]any{"debugger": false},
	}, nil
}

// Location says which Jupyter data directory a kernel spec goes to. At most
// one of User, SysPrefix and Prefix is set; none means the system-wide
// directory (/usr/local/share/jupyter/kernels), as jupyter does.
type Location struct {
	User      bool   // the user's data dir: $JUPYTER_DATA_DIR, else $XDG_DATA_HOME/jupyter, else ~/.local/share/jupyter
	SysPrefix bool   // PREFIX/share/jupyter where PREFIX is sys.prefix of Python
	Prefix    string // DIR/share/jupyter
	// Python is the interpreter whose sys.prefix SysPrefix uses. Empty:
	// /usr/bin/python3 if it exists, else python3 on PATH.
	Python string
}

// SystemDataDir is where a kernel spec goes when no location is given.
const SystemDataDir = "/usr/local/share/jupyter"

var namePattern = regexp.MustCompile(`^[a-z0-9._-]+$`)

// CheckName lower-cases name and checks it the way jupyter_client does
// (letters, digits, '.', '_', '-').
func CheckName(name string) (string, error) {
	n := strings.ToLower(name)
	if !namePattern.MatchString(n) {
		return "", fmt.Errorf("invalid kernel name %q: use only letters, digits, '.', '_' and '-'", name)
	}
	return n, nil
}

// KernelsDir returns the kernels directory of loc (…/share/jupyter/kernels
// or the user's …/jupyter/kernels).
func KernelsDir(ctx context.Context, loc Location) (string, error) {
	n := 0
	for _, b := range []bool{loc.User, loc.SysPrefix, loc.Prefix != ""} {
		if b {
			n++
		}
	}
	if n > 1 {
		return "", errors.New("choose only one of --user, --sys-prefix and --prefix")
	}
	switch {
	case loc.User:
		d, err := UserDataDir()
		if err != nil {
			return "", err
		}
		return filepath.Join(d, "kernels"), nil
	case loc.SysPrefix:
		p, err := SysPrefix(ctx, loc.Python)
		if err != nil {
			return "", err
		}
		return filepath.Join(p, "share", "jupyter", "kernels"), nil
	case loc.Prefix != "":
		p, err := filepath.Abs(loc.Prefix)
		if err != nil {
			return "", fmt.Errorf("absolute path of prefix %q: %w", loc.Prefix, err)
		}
		return filepath.Join(p, "share", "jupyter", "kernels"), nil
	default:
		return filepath.Join(SystemDataDir, "kernels"), nil
	}
}

// UserDataDir is jupyter_core's jupyter_data_dir() on Linux.
func UserDataDir() (string, error) {
	if d := os.Getenv("JUPYTER_DATA_DIR"); d != "" {
		return d, nil
	}
	if d := os.Getenv("XDG_DATA_HOME"); d != "" {
		return filepath.Join(d, "jupyter"), nil
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return "", fmt.Errorf("find the user's Jupyter data dir (set JUPYTER_DATA_DIR or HOME): %w", err)
	}
	return filepath.Join(home, ".local", "share", "jupyter"), nil
}

// SysPrefix asks python for its sys.prefix.
func SysPrefix(ctx context.Context, python string) (string, error) {
	if python == "" {
		python = "/usr/bin/python3"
		if _, err := os.Stat(python); err != nil {
			python = "python3"
		}
	}
	var out, errb bytes.Buffer
	cmd := exec.CommandContext(ctx, python, "-c", "import sys; print(sys.prefix)")
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("ask %s for sys.prefix (use --prefix DIR instead): %w: %s", python, err, strings.TrimSpace(errb.String()))
	}
	p := strings.TrimSpace(out.String())
	if p == "" || !filepath.IsAbs(p) {
		return "", fmt.Errorf("%s reported sys.prefix %q; use --prefix DIR instead", python, p)
	}
	return p, nil
}

// Install writes spec and the logos to KernelsDir(loc)/name, replacing any
// kernel spec already there, and returns that directory.
func Install(ctx context.Context, loc Location, name string, spec Spec) (string, error) {
	name, err := CheckName(name)
	if err != nil {
		return "", err
	}
	kdir, err := KernelsDir(ctx, loc)
	if err != nil {
		return "", err
	}
	dest := filepath.Join(kdir, name)
	js, err := json.MarshalIndent(spec, "", "  ")
	if err != nil {
		return "", fmt.Errorf("encode kernel.json: %w", err)
	}
	files := map[string][]byte{"kernel.json": append(js, '\n')}
	for fname, data := range Logos() {
		files[fname] = data
	}
	if err := os.MkdirAll(kdir, 0o755); err != nil {
		return "", fmt.Errorf("create %s (need write permission there: try --user, or run as root): %w", kdir, err)
	}
	// Build the new spec next to its destination, then swap it in, so a
	// failed install leaves no half-written spec behind.
	tmp, err := os.MkdirTemp(kdir, "."+name+".tmp-")
	if err != nil {
		return "", fmt.Errorf("install kernel spec in %s (need write permission there: try --user): %w", kdir, err)
	}
	defer os.RemoveAll(tmp)
	if err := os.Chmod(tmp, 0o755); err != nil {
		return "", fmt.Errorf("install kernel spec: %w", err)
	}
	for fname, data := range files {
		if err := os.WriteFile(filepath.Join(tmp, fname), data, 0o644); err != nil {
			return "", fmt.Errorf("write %s: %w", fname, err)
		}
	}
	if err := os.RemoveAll(dest); err != nil {
		return "", fmt.Errorf("replace existing kernel spec %s: %w", dest, err)
	}
	if err := os.Rename(tmp, dest); err != nil {
		return "", fmt.Errorf("install kernel spec to %s: %w", dest, err)
	}
	return dest, nil
}

// ErrNotInstalled is returned by Uninstall when there is no kernel spec to
// remove.
var ErrNotInstalled = errors.New("kernel spec not installed")

// Uninstall removes KernelsDir(loc)/name and returns the directory removed.
func Uninstall(ctx context.Context, loc Location, name string) (string, error) {
	name, err := CheckName(name)
	if err != nil {
		return "", err
	}
	kdir, err := KernelsDir(ctx, loc)
	if err != nil {
		return "", err
	}
	dest := filepath.Join(kdir, name)
	if _, err := os.Stat(filepath.Join(dest, "kernel.json")); err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return dest, fmt.Errorf("%w: %s has no kernel.json", ErrNotInstalled, dest)
		}
		return dest, fmt.Errorf("uninstall %s: %w", dest, err)
	}
	if err := os.RemoveAll(dest); err != nil {
		return dest, fmt.Errorf("remove %s: %w", dest, err)
	}
	return dest, nil
}
