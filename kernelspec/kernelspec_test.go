package kernelspec

import (
	"bytes"
	"context"
	"encoding/json"
	"encoding/xml"
	"errors"
	"image/png"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"testing"
	"time"
)

func TestNewSpec(t *testing.T) {
	spec, err := NewSpec("/opt/bin/wasmpy", []string{"--log-level", "debug"})
	if err != nil {
		t.Fatal(err)
	}
	js, err := json.Marshal(spec)
	if err != nil {
		t.Fatal(err)
	}
	var got map[string]any
	if err := json.Unmarshal(js, &got); err != nil {
		t.Fatal(err)
	}
	want := map[string]any{
		"argv":           []any{"/opt/bin/wasmpy", "kernel", "-f", "{connection_file}", "--log-level", "debug"},
		"display_name":   "Python 3.13 (wasmpy)",
		"language":       "python",
		"interrupt_mode": "message",
		"metadata":       map[string]any{"debugger": false},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("kernel.json =\n%s\nwant %v", js, want)
	}

	rel, err := NewSpec("wasmpy", nil)
	if err != nil {
		t.Fatal(err)
	}
	if !filepath.IsAbs(rel.Argv[0]) {
		t.Errorf("argv[0] = %q, want an absolute path", rel.Argv[0])
	}
}

func TestKernelsDir(t *testing.T) {
	tmp := t.TempDir()
	fakePython := filepath.Join(tmp, "fakepython")
	if err := os.WriteFile(fakePython, []byte("#!/bin/sh\necho /opt/fakeprefix\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		env     map[string]string
		loc     Location
		want    string
		wantErr bool
	}{
		{name: "system default", loc: Location{}, want: "/usr/local/share/jupyter/kernels"},
		{name: "user JUPYTER_DATA_DIR", env: map[string]string{"JUPYTER_DATA_DIR": "/j/data", "XDG_DATA_HOME": "/x"}, loc: Location{User: true}, want: "/j/data/kernels"},
		{name: "user XDG_DATA_HOME", env: map[string]string{"JUPYTER_DATA_DIR": "", "XDG_DATA_HOME": "/x"}, loc: Location{User: true}, want: "/x/jupyter/kernels"},
		{name: "user HOME", env: map[string]string{"JUPYTER_DATA_DIR": "", "XDG_DATA_HOME": "", "HOME": "/home/u"}, loc: Location{User: true}, want: "/home/u/.local/share/jupyter/kernels"},
		{name: "prefix", loc: Location{Prefix: "/opt/env"}, want: "/opt/env/share/jupyter/kernels"},
		{name: "sys-prefix", loc: Location{SysPrefix: true, Python: fakePython}, want: "/opt/fakeprefix/share/jupyter/kernels"},
		{name: "sys-prefix bad python", loc: Location{SysPrefix: true, Python: filepath.Join(tmp, "nope")}, wantErr: true},
		{name: "two locations", loc: Location{User: true, Prefix: "/p"}, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for k, v := range tt.env {
				t.Setenv(k, v)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			got, err := KernelsDir(ctx, tt.loc)
			if tt.wantErr {
				if err == nil {
					t.Fatalf("KernelsDir = %q, want an error", got)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Errorf("KernelsDir = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestRealSysPrefix(t *testing.T) {
	if _, err := os.Stat("/usr/bin/python3"); err != nil {
		t.Skip("no /usr/bin/python3")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	p, err := SysPrefix(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	if p != "/usr" {
		t.Errorf("sys.prefix of /usr/bin/python3 = %q, want /usr", p)
	}
}

func TestCheckName(t *testing.T) {
	tests := []struct {
		in, want string
		ok       bool
	}{
		{"wasmpy", "wasmpy", true},
		{"WasmPy-3.13_x", "wasmpy-3.13_x", true},
		{"", "", false},
		{"a b", "", false},
		{"../evil", "", false},
		{"a/b", "", false},
	}
	for _, tt := range tests {
		got, err := CheckName(tt.in)
		if (err == nil) != tt.ok || got != tt.want {
			t.Errorf("CheckName(%q) = %q, %v; want %q, ok=%v", tt.in, got, err, tt.want, tt.ok)
		}
	}
}

func TestInstallUninstall(t *testing.T) {
	ctx := context.Background()
	prefix := t.TempDir()
	loc := Location{Prefix: prefix}
	spec, err := NewSpec("/opt/bin/wasmpy", nil)
	if err != nil {
		t.Fatal(err)
	}
	dir, err := Install(ctx, loc, "WasmPy", spec)
	if err != nil {
		t.Fatal(err)
	}
	if want := filepath.Join(prefix, "share", "jupyter", "kernels", "wasmpy"); dir != want {
		t.Fatalf("installed to %q, want %q", dir, want)
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	if want := []string{"kernel.json", "logo-32x32.png", "logo-64x64.png", "logo-svg.svg"}; !reflect.DeepEqual(names, want) {
		t.Errorf("files = %v, want %v", names, want)
	}
	js, err := os.ReadFile(filepath.Join(dir, "kernel.json"))
	if err != nil {
		t.Fatal(err)
	}
	var back Spec
	if err := json.Unmarshal(js, &back); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(back.Argv, spec.Argv) || back.InterruptMode != "message" {
		t.Errorf("kernel.json round trip: %+v", back)
	}
	if st, err := os.Stat(dir); err != nil || st.Mode().Perm() != 0o755 {
		t.Errorf("spec dir mode: %v %v", st.Mode(), err)
	}

	// Reinstall replaces the old spec, including stray files.
	if err := os.WriteFile(filepath.Join(dir, "stray"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	spec2, _ := NewSpec("/other/wasmpy", []string{"--x"})
	if _, err := Install(ctx, loc, "wasmpy", spec2); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "stray")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("stray file survived reinstall: %v", err)
	}
	js, _ = os.ReadFile(filepath.Join(dir, "kernel.json"))
	if !bytes.Contains(js, []byte("/other/wasmpy")) {
		t.Errorf("reinstall did not replace kernel.json: %s", js)
	}
	// No temporary directories are left behind.
	kdir := filepath.Dir(dir)
	if es, _ := os.ReadDir(kdir); len(es) != 1 {
		t.Errorf("kernels dir has %d entries, want 1", len(es))
	}

	removed, err := Uninstall(ctx, loc, "wasmpy")
	if err != nil || removed != dir {
		t.Fatalf("Uninstall = %q, %v", removed, err)
	}
	if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("spec dir still there: %v", err)
	}
	if _, err := Uninstall(ctx, loc, "wasmpy"); !errors.Is(err, ErrNotInstalled) {
		t.Errorf("second Uninstall: %v, want ErrNotInstalled", err)
	}
	if _, err := Install(ctx, loc, "bad name", spec); err == nil {
		t.Error("Install with a bad name succeeded")
	}
}

func TestInstallUnwritable(t *testing.T) {
	if os.Geteuid() == 0 {
		t.Skip("root can write anywhere")
	}
	ro := t.TempDir()
	if err := os.Chmod(ro, 0o555); err != nil {
		t.Fatal(err)
	}
	spec, _ := NewSpec("/x", nil)
	if _, err := Install(context.Background(), Location{Prefix: ro}, "wasmpy", spec); err == nil {
		t.Error("Install into a read-only prefix succeeded")
	}
}

func TestLogos(t *testing.T) {
	logos := Logos()
	for _, n := range []int{32, 64} {
		name := map[int]string{32: "logo-32x32.png", 64: "logo-64x64.png"}[n]
		img, err := png.Decode(bytes.NewReader(logos[name]))
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if b := img.Bounds(); b.Dx() != n || b.Dy() != n {
			t.Errorf("%s is %v", name, b)
		}
		// Corner outside the rounded square: transparent. Left edge
		// mid-height: purple background. Centre of the p's bowl: yellow eye.
		if _, _, _, a := img.At(0, 0).RGBA(); a != 0 {
			t.Errorf("%s: corner alpha %d, want 0", name, a)
		}
		r, g, b, a := img.At(n/32, n/2).RGBA()
		if a>>8 != 0xff || r>>8 != 0x65 || g>>8 != 0x4f || b>>8 != 0xf0 {
			t.Errorf("%s: background %x %x %x %x, want purple", name, r>>8, g>>8, b>>8, a>>8)
		}
		ex, ey := int(22.5*float64(n)/64), int(25.5*float64(n)/64)
		r, g, b, _ = img.At(ex, ey).RGBA()
		if r>>8 < 0xe0 || g>>8 < 0xb0 || b>>8 > 0x90 {
			t.Errorf("%s: eye %x %x %x, want yellow", name, r>>8, g>>8, b>>8)
		}
	}
	dec := xml.NewDecoder(bytes.NewReader(logos["logo-svg.svg"]))
	elems := 0
	for {
		tok, err := dec.Token()
		if err != nil {
			if err.Error() != "EOF" {
				t.Fatalf("svg: %v", err)
			}
			break
		}
		if _, ok := tok.(xml.StartElement); ok {
			elems++
		}
	}
	if elems != 1+1+len(logoShapes) { // svg, title, one per shape
		t.Errorf("svg has %d elements, want %d", elems, 2+len(logoShapes))
	}
	if _, err := LogoPNG(0); err == nil {
		t.Error("LogoPNG(0) succeeded")
	}
}

// TestJupyterSeesSpec checks with the real jupyter_client that the installed
// spec is found and valid.
func TestJupyterSeesSpec(t *testing.T) {
	py := "/usr/bin/python3"
	if err := exec.Command(py, "-c", "import jupyter_client").Run(); err != nil {
		t.Skip("no jupyter_client for /usr/bin/python3")
	}
	data := t.TempDir()
	t.Setenv("JUPYTER_DATA_DIR", data)
	t.Setenv("JUPYTER_PATH", "")
	spec, _ := NewSpec("/opt/bin/wasmpy", nil)
	if _, err := Install(context.Background(), Location{User: true}, "wasmpy-test", spec); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, py, "-c", `
import json
from jupyter_client.kernelspec import KernelSpecManager
s = KernelSpecManager().get_kernel_spec("wasmpy-test")
print(json.dumps({"dir": s.resource_dir, "argv": s.argv, "mode": s.interrupt_mode, "name": s.display_name}))
`).CombinedOutput()
	if err != nil {
		t.Fatalf("jupyter_client: %v\n%s", err, out)
	}
	var got struct {
		Dir  string   `json:"dir"`
		Argv []string `json:"argv"`
		Mode string   `json:"mode"`
		Name string   `json:"name"`
	}
	if err := json.Unmarshal(out, &got); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	if got.Dir != filepath.Join(data, "kernels", "wasmpy-test") || got.Mode != "message" || got.Name != DisplayName || got.Argv[0] != "/opt/bin/wasmpy" {
		t.Errorf("jupyter_client sees %+v", got)
	}
}
