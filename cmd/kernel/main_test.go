package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

func runCmd(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	code := run(ctx, args, &out, &errb)
	return code, out.String(), errb.String()
}

func TestCommands(t *testing.T) {
	empty := t.TempDir()
	tests := []struct {
		args      []string
		code      int
		wantOut   string
		wantErr   string
		wantNoOut bool
	}{
		{args: nil, code: exitUsage, wantErr: "Usage:"},
		{args: []string{"--help"}, code: exitOK, wantOut: "wasmpy kernel -f CONNECTION_FILE"},
		{args: []string{"help"}, code: exitOK, wantOut: "wasmpy install"},
		{args: []string{"frobnicate"}, code: exitUsage, wantErr: `unknown command "frobnicate"`},
		{args: []string{"version"}, code: exitOK, wantOut: "wasmpy " + version + " (Jupyter protocol 5.5, Python 3.13"},
		{args: []string{"version", "extra"}, code: exitUsage, wantErr: "takes no arguments"},
		{args: []string{"version", "--help"}, code: exitOK, wantOut: "Usage: wasmpy version"},
		{args: []string{"kernel"}, code: exitUsage, wantErr: "missing the connection file: run 'wasmpy kernel -f CONNECTION_FILE'"},
		{args: []string{"kernel", "--help"}, code: exitOK, wantOut: "  -f FILE"},
		{args: []string{"kernel", "-h"}, code: exitOK, wantOut: "Usage: wasmpy kernel -f CONNECTION_FILE [flags]"},
		{args: []string{"kernel", "-f", filepath.Join(empty, "nope.json")}, code: exitError, wantErr: "no such file"},
		{args: []string{"kernel", "-f", "x", "--log-level", "loud"}, code: exitUsage, wantErr: `unknown level "loud"`},
		{args: []string{"kernel", "-f", "x", "stray"}, code: exitUsage, wantErr: `unexpected argument "stray"`},
		{args: []string{"kernel", "-f", "x", "--cell-timeout", "-1s"}, code: exitUsage, wantErr: "must not be negative"},
		{args: []string{"kernel", "--nope"}, code: exitUsage, wantErr: "Run 'wasmpy kernel --help'"},
		{args: []string{"install", "--help"}, code: exitOK, wantOut: "--mount HOST[:GUEST][:ro]"},
		{args: []string{"install", "--user", "--prefix", empty}, code: exitError, wantErr: "only one of --user, --sys-prefix and --prefix"},
		{args: []string{"install", "--prefix", empty, "--mount", "a:b"}, code: exitUsage, wantErr: "guest path must be absolute"},
		{args: []string{"install", "--prefix", empty, "--env", "=x"}, code: exitUsage, wantErr: "use NAME=VALUE"},
		{args: []string{"install", "--prefix", empty, "--name", "bad name"}, code: exitError, wantErr: "invalid kernel name"},
		{args: []string{"install", "--prefix", empty, "--fetch-max-bytes", "0"}, code: exitUsage, wantErr: "bad size"},
		{args: []string{"install", "--prefix", empty, "--fetch-max-bytes", "lots"}, code: exitUsage, wantErr: "bad size"},
		{args: []string{"install", "--prefix", empty, "--fetch-timeout", "-1s"}, code: exitUsage, wantErr: "--fetch-timeout must not be negative"},
		{args: []string{"uninstall", "--prefix", empty}, code: exitError, wantErr: `no kernel spec "wasmpy"`},
		{args: []string{"uninstall", "--help"}, code: exitOK, wantOut: "Remove an installed kernel spec"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			code, out, errs := runCmd(t, tt.args...)
			if code != tt.code {
				t.Errorf("exit %d, want %d\nstdout: %s\nstderr: %s", code, tt.code, out, errs)
			}
			if !strings.Contains(out, tt.wantOut) {
				t.Errorf("stdout %q does not contain %q", out, tt.wantOut)
			}
			if !strings.Contains(errs, tt.wantErr) {
				t.Errorf("stderr %q does not contain %q", errs, tt.wantErr)
			}
			if tt.code != exitOK && out != "" {
				t.Errorf("failure wrote to stdout: %q", out)
			}
		})
	}
}

func TestInstallStoresFlags(t *testing.T) {
	prefix := t.TempDir()
	t.Chdir(t.TempDir())
	code, out, errs := runCmd(t, "install", "--prefix", prefix, "--name", "Test-K",
		"--log-level", "DEBUG", "--mount", "data:/data:ro", "--env", "A=1 2", "--cell-timeout", "30s", "--memory-limit", "512",
		"--fetch-max-bytes", "2M", "--fetch-timeout", "5s")
	if code != exitOK {
		t.Fatalf("install: exit %d: %s", code, errs)
	}
	dir := filepath.Join(prefix, "share", "jupyter", "kernels", "test-k")
	if !strings.Contains(out, "Installed kernelspec test-k in "+dir) {
		t.Errorf("stdout %q", out)
	}
	js, err := os.ReadFile(filepath.Join(dir, "kernel.json"))
	if err != nil {
		t.Fatal(err)
	}
	var spec struct {
		Argv          []string       `json:"argv"`
		DisplayName   string         `json:"display_name"`
		Language      string         `json:"language"`
		InterruptMode string         `json:"interrupt_mode"`
		Metadata      map[string]any `json:"metadata"`
	}
	if err := json.Unmarshal(js, &spec); err != nil {
		t.Fatal(err)
	}
	exe, _ := os.Executable()
	cwd, _ := os.Getwd()
	want := []string{exe, "kernel", "-f", "{connection_file}",
		"--log-level", "debug", "--mount", filepath.Join(cwd, "data") + ":/data:ro", "--env", "A=1 2",
		"--cell-timeout", "30s", "--memory-limit", "512", "--fetch-max-bytes", "2M", "--fetch-timeout", "5s"}
	if !reflect.DeepEqual(spec.Argv, want) {
		t.Errorf("argv\n got %q\nwant %q", spec.Argv, want)
	}
	if spec.DisplayName != "Python 3.13 (wasmpy)" || spec.Language != "python" || spec.InterruptMode != "message" || spec.Metadata["debugger"] != false {
		t.Errorf("spec %+v", spec)
	}
	for _, f := range []string{"logo-32x32.png", "logo-64x64.png", "logo-svg.svg"} {
		if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
			t.Error(err)
		}
	}
	// The stored flags are valid flags of `wasmpy kernel`.
	code, _, errs = runCmd(t, append(spec.Argv[1:4:4], append([]string{"--help"}, spec.Argv[4:]...)...)...)
	if code != exitOK {
		t.Errorf("stored argv does not parse: %s", errs)
	}

	code, out, errs = runCmd(t, "uninstall", "--prefix", prefix, "--name", "test-k")
	if code != exitOK || !strings.Contains(out, "Removed "+dir) {
		t.Fatalf("uninstall: exit %d %q %q", code, out, errs)
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Errorf("spec still there: %v", err)
	}
}

func TestInstallUserDir(t *testing.T) {
	data := t.TempDir()
	t.Setenv("JUPYTER_DATA_DIR", data)
	if code, _, errs := runCmd(t, "install", "--user"); code != exitOK {
		t.Fatalf("install --user: %s", errs)
	}
	if _, err := os.Stat(filepath.Join(data, "kernels", "wasmpy", "kernel.json")); err != nil {
		t.Fatal(err)
	}
	if code, _, errs := runCmd(t, "uninstall", "--user"); code != exitOK {
		t.Fatalf("uninstall --user: %s", errs)
	}
}

func TestParseMount(t *testing.T) {
	cwd, _ := os.Getwd()
	tests := []struct {
		in   string
		want Mount
		ok   bool
	}{
		{"/a", Mount{Host: "/a", Guest: "/a"}, true},
		{"/a:ro", Mount{Host: "/a", Guest: "/a", ReadOnly: true}, true},
		{"/a:rw", Mount{Host: "/a", Guest: "/a"}, true},
		{"/a:/b", Mount{Host: "/a", Guest: "/b"}, true},
		{"/a:/b/../c:ro", Mount{Host: "/a", Guest: "/c", ReadOnly: true}, true},
		{"rel", Mount{Host: filepath.Join(cwd, "rel"), Guest: filepath.Join(cwd, "rel")}, true},
		{"", Mount{}, false},
		{":/b", Mount{}, false},
		{"/a:b", Mount{}, false},
		{"/a:/b:/c", Mount{}, false},
	}
	for _, tt := range tests {
		got, err := parseMount(tt.in)
		if (err == nil) != tt.ok || got != tt.want {
			t.Errorf("parseMount(%q) = %+v, %v; want %+v ok=%v", tt.in, got, err, tt.want, tt.ok)
		}
		if tt.ok {
			if back, err := parseMount(got.String()); err != nil || back != got {
				t.Errorf("round trip of %+v: %+v %v", got, back, err)
			}
		}
	}
}

// TestJupyterClient builds the binary, installs its spec and drives it with
// the real jupyter_client: start, kernel_info, execute, interrupt, SIGINT,
// restart and shutdown.
func TestJupyterClient(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary and starts kernels")
	}
	py := "/usr/bin/python3"
	if err := exec.Command(py, "-c", "import jupyter_client").Run(); err != nil {
		t.Skip("no jupyter_client for /usr/bin/python3")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	tmp := t.TempDir()
	bin := buildBinary(t)
	env := append(os.Environ(), "JUPYTER_DATA_DIR="+filepath.Join(tmp, "data"), "JUPYTER_PATH=", "JUPYTER_RUNTIME_DIR="+filepath.Join(tmp, "rt"))
	inst := exec.CommandContext(ctx, bin, "install", "--user", "--name", "wasmpy-e2e", "--log-level", "info")
	inst.Env = env
	if out, err := inst.CombinedOutput(); err != nil {
		t.Fatalf("install: %v\n%s", err, out)
	}
	cmd := exec.CommandContext(ctx, py, "testdata/e2e.py", "wasmpy-e2e")
	cmd.Env = env
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("e2e.py: %v\nstdout: %s\nstderr: %s", err, out, stderr.String())
	}
	var got struct {
		ReadyS              float64 `json:"ready_s"`
		Implementation      string  `json:"implementation"`
		Language            string  `json:"language"`
		ProtocolVersion     string  `json:"protocol_version"`
		ExecuteStatus       string  `json:"execute_status"`
		ExecuteEname        string  `json:"execute_ename"`
		ExecuteEvalue       string  `json:"execute_evalue"`
		AliveAfterInterrupt bool    `json:"alive_after_interrupt"`
		AliveAfterSigint    bool    `json:"alive_after_sigint"`
		AnswersAfterSigint  string  `json:"answers_after_sigint"`
		RestartS            float64 `json:"restart_s"`
		NewPid              bool    `json:"new_pid"`
		ShutdownS           float64 `json:"shutdown_s"`
		AliveAfterShutdown  bool    `json:"alive_after_shutdown"`
	}
	if err := json.Unmarshal(out, &got); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	t.Logf("jupyter_client: %+v", got)
	if got.Implementation != "wasmpy" || got.Language != "python" || got.ProtocolVersion != "5.5" {
		t.Errorf("kernel_info %+v", got)
	}
	// Until the runtime is wired in (factory.go), execution reports that.
	if got.ExecuteStatus != "ok" && (got.ExecuteEname != "InterpreterStartFailed" || !strings.Contains(got.ExecuteEvalue, "not wired")) {
		t.Errorf("execute: %s %s %s", got.ExecuteStatus, got.ExecuteEname, got.ExecuteEvalue)
	}
	if !got.AliveAfterInterrupt || !got.AliveAfterSigint || got.AnswersAfterSigint != "ok" {
		t.Errorf("interrupts killed the kernel: %+v", got)
	}
	// jupyter_client sends SIGTERM after shutdown_wait_time/2 = 2.5s if the
	// process has not exited: a clean exit is much faster.
	if got.RestartS > 2.4 || !got.NewPid {
		t.Errorf("restart took %.2fs (new process: %v); want a prompt exit", got.RestartS, got.NewPid)
	}
	if got.ShutdownS > 2.4 || got.AliveAfterShutdown {
		t.Errorf("shutdown took %.2fs (alive: %v); want a prompt exit", got.ShutdownS, got.AliveAfterShutdown)
	}
}

// buildBinary builds wasmpy once per test run.
func buildBinary(t *testing.T) string {
	t.Helper()
	build.once.Do(func() {
		dir, err := os.MkdirTemp("", "wasmpy-test-bin-")
		if err != nil {
			build.err = err
			return
		}
		build.path = filepath.Join(dir, "wasmpy")
		out, err := exec.Command("go", "build", "-o", build.path, ".").CombinedOutput()
		if err != nil {
			build.err = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if build.err != nil {
		t.Fatal(build.err)
	}
	return build.path
}

var build struct {
	once sync.Once
	path string
	err  error
}

func TestMain(m *testing.M) {
	// Start-up snapshots made by the tests stay out of the user's cache
	// (the store there keeps only a few).
	snaps, err := os.MkdirTemp("", "wasmpy-test-snapshots-*")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	os.Setenv("WASMPY_SNAPSHOT_DIR", snaps)
	code := m.Run()
	os.RemoveAll(snaps)
	if build.path != "" {
		os.RemoveAll(filepath.Dir(build.path))
	}
	os.Exit(code)
}

// writeConnectionFile writes a connection file with free ports on
// 127.0.0.1.
func writeConnectionFile(t *testing.T) string {
	t.Helper()
	var ports []int
	var ls []net.Listener
	for range 5 {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		ls = append(ls, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	for _, l := range ls {
		l.Close()
	}
	js, _ := json.Marshal(map[string]any{
		"transport": "tcp", "ip": "127.0.0.1", "shell_port": ports[0], "control_port": ports[1],
		"stdin_port": ports[2], "iopub_port": ports[3], "hb_port": ports[4],
		"key": "k", "signature_scheme": "hmac-sha256", "kernel_name": "wasmpy",
	})
	p := filepath.Join(t.TempDir(), "kernel-test.json")
	if err := os.WriteFile(p, js, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// processGone reports whether pid has exited (or is a zombie).
func processGone(pid int) bool {
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return true
	}
	// pid (comm) STATE ...: the state follows the last ')'.
	i := bytes.LastIndexByte(stat, ')')
	return i < 0 || i+2 >= len(stat) || stat[i+2] == 'Z'
}

func TestOrphanedKernelExits(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	bin := buildBinary(t)
	cf := writeConnectionFile(t)
	// The shell starts the kernel in the background and exits, orphaning it.
	sh := exec.Command("sh", "-c", `"$0" kernel -f "$1" </dev/null >/dev/null 2>&1 & echo $!; sleep 0.5`, bin, cf)
	sh.Env = append(os.Environ(), "JPY_PARENT_PID=4242")
	sh.WaitDelay = 5 * time.Second
	out, err := sh.Output()
	if err != nil {
		t.Fatal(err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(out)))
	if err != nil {
		t.Fatalf("pid %q: %v", out, err)
	}
	defer syscall.Kill(pid, syscall.SIGKILL)
	deadline := time.Now().Add(10 * time.Second)
	for !processGone(pid) {
		if time.Now().After(deadline) {
			t.Fatal("orphaned kernel still running after 10s")
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func TestSigtermStopsKernel(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	bin := buildBinary(t)
	cmd := exec.Command(bin, "kernel", "-f", writeConnectionFile(t), "--log-level", "info")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	time.Sleep(300 * time.Millisecond)
	// SIGINT interrupts, it does not stop the kernel.
	cmd.Process.Signal(syscall.SIGINT)
	time.Sleep(300 * time.Millisecond)
	if processGone(cmd.Process.Pid) {
		t.Fatalf("SIGINT stopped the kernel:\n%s", stderr.String())
	}
	cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("exit after SIGTERM: %v\n%s", err, stderr.String())
		}
	case <-time.After(10 * time.Second):
		t.Fatal("kernel did not exit after SIGTERM")
	}
	if !strings.Contains(stderr.String(), "SIGINT: interrupting") {
		t.Errorf("no SIGINT log:\n%s", stderr.String())
	}
}
