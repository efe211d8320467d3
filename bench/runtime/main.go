// Command runtime prints the wasmpy runtime's start-up and compute figures:
// first compile, cached load, instantiate to first output, `import IPython`,
// RSS, and ../shared/bench/compute.py inside wasmpy against a native build of
// the same CPython source (and the host's python3) in the same run.
// It also starts kernels from a start-up snapshot, as installed kernels do,
// and runs compute.py in Pyodide under Node when `npm install --no-package-lock
// --prefix bench/pyodide` was done (run it from the repository's root).
//
//	go run ./bench/runtime [-compute ../shared/bench/compute.py] [-repeat 3] [-scale 1]
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"wasmpy/wasmpy"
)

func main() {
	compute := flag.String("compute", "../shared/bench/compute.py", "compute.py to run")
	repeat := flag.Int("repeat", 3, "repeats per compute benchmark")
	scale := flag.Float64("scale", 1, "work scale for compute.py")
	hardStop := flag.Bool("hardstop", false, "run guest code with hard-stop support (wazero close-on-context-done)")
	both := flag.Bool("both", false, "also run compute.py with the other hard-stop setting")
	flag.Parse()
	if err := run(*compute, *repeat, *scale, *hardStop, *both); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

func rssMB() float64 {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var kb float64
		if n, _ := fmt.Sscanf(sc.Text(), "VmRSS: %f kB", &kb); n == 1 {
			return kb / 1024
		}
	}
	return 0
}

func run(computePath string, repeat int, scale float64, hardStop, both bool) error {
	ctx := context.Background()
	fmt.Printf("wasmpy runtime benchmark, %s\n\n", time.Now().UTC().Format(time.RFC3339))
	tmpCache, err := os.MkdirTemp("", "wasmpy-bench-cache-*")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmpCache)

	t0 := time.Now()
	rt, err := wasmpy.LoadRuntime(ctx, wasmpy.RuntimeConfig{CacheDir: tmpCache, HardStop: hardStop})
	if err != nil {
		return err
	}
	first := time.Since(t0)
	rt.Close(ctx)
	t0 = time.Now()
	rt, err = wasmpy.LoadRuntime(ctx, wasmpy.RuntimeConfig{CacheDir: tmpCache, HardStop: hardStop})
	if err != nil {
		return err
	}
	cached := time.Since(t0)
	defer rt.Close(ctx)
	fmt.Printf("%-38s %8.0f ms\n", "first compile (empty cache)", ms(first))
	fmt.Printf("%-38s %8.1f ms\n", "cached load", ms(cached))

	firstOut := make(chan time.Time, 1)
	var out strings.Builder
	t0 = time.Now()
	in, err := rt.NewInterpreter(ctx, wasmpy.Config{Output: func(s, text string) {
		select {
		case firstOut <- time.Now():
		default:
		}
		if s == "stdout" {
			out.WriteString(text)
		}
	}})
	if err != nil {
		return err
	}
	defer in.Close()
	inst := time.Since(t0)
	if err := in.Exec(ctx, "print('ready', flush=True)"); err != nil {
		return err
	}
	fo := (<-firstOut).Sub(t0)
	fmt.Printf("%-38s %8.1f ms\n", "instantiate + init CPython", ms(inst))
	fmt.Printf("%-38s %8.1f ms\n", "instantiate to first output", ms(fo))
	fmt.Printf("%-38s %8.1f MB\n", "RSS with one interpreter", rssMB())
	t0 = time.Now()
	if err := in.Exec(ctx, "import IPython"); err != nil {
		return err
	}
	fmt.Printf("%-38s %8.1f ms\n", "import IPython", ms(time.Since(t0)))
	fmt.Printf("%-38s %8.1f MB\n", "RSS after import IPython", rssMB())
	if err := restoreFigures(ctx, rt); err != nil {
		return err
	}

	src, err := os.ReadFile(computePath)
	if err != nil {
		return fmt.Errorf("compute.py: %w (pass -compute)", err)
	}
	code := fmt.Sprintf("ns = {}\nexec(compile(%q, 'compute.py', 'exec'), ns)\nimport json\nprint('\\nCOMPUTE ' + json.dumps(ns['run_all'](%d, %v)))\n", src, repeat, scale)
	runs := map[string]map[string]float64{}
	label := func(h bool) string {
		if h {
			return "wasmpy (hard stop on)"
		}
		return "wasmpy (hard stop off)"
	}
	res, err := wasmCompute(ctx, in, &out, code)
	if err != nil {
		return err
	}
	runs[label(hardStop)] = res
	if both {
		rt2, err := wasmpy.LoadRuntime(ctx, wasmpy.RuntimeConfig{CacheDir: tmpCache, HardStop: !hardStop})
		if err != nil {
			return err
		}
		var out2 strings.Builder
		in2, err := rt2.NewInterpreter(ctx, wasmpy.Config{Output: func(s, text string) {
			if s == "stdout" {
				out2.WriteString(text)
			}
		}})
		if err != nil {
			return err
		}
		res, err := wasmCompute(ctx, in2, &out2, code)
		if err != nil {
			return err
		}
		runs[label(!hardStop)] = res
		in2.Close()
		rt2.Close(ctx)
	}
	natives := map[string]string{"/usr/bin/python3": "host python3"}
	if m, _ := filepath.Glob(filepath.Join(wasmpy.DefaultCacheDir(), "stages", "native-*", "install", "bin", "python3.13")); len(m) > 0 {
		natives[m[0]] = "native CPython 3.13 (same source)"
	}
	for bin, name := range natives {
		cmd := exec.Command(bin, computePath, fmt.Sprint(repeat), fmt.Sprint(scale))
		b, err := cmd.Output()
		if err != nil {
			fmt.Printf("%s: %v\n", name, err)
			continue
		}
		runs[name] = parseCompute(b)
	}
	if res, err := pyodideCompute(computePath, repeat, scale); err != nil {
		fmt.Printf("Pyodide in Node: %v\n", err)
	} else {
		runs["Pyodide 0.29 in Node"] = res
	}
	names := make([]string, 0, len(runs))
	for n := range runs {
		names = append(names, n)
	}
	sort.Strings(names)
	benches := []string{"sum_squares", "fib27", "richards_like", "mandelbrot", "str_dict"}
	fmt.Printf("\ncompute.py best of %d, seconds (scale %v)\n%-36s", repeat, scale, "")
	for _, b := range benches {
		fmt.Printf(" %13s", b)
	}
	fmt.Println()
	for _, n := range names {
		fmt.Printf("%-36s", n)
		for _, b := range benches {
			fmt.Printf(" %13.3f", runs[n][b])
		}
		fmt.Println()
	}
	for _, ref := range []struct{ run, label string }{
		{"Pyodide 0.29 in Node", "Pyodide"},
		{"native CPython 3.13 (same source)", "native"},
	} {
		base, ok := runs[ref.run]
		if !ok {
			continue
		}
		for _, n := range names {
			if !strings.HasPrefix(n, "wasmpy") {
				continue
			}
			fmt.Printf("%-36s", n+" / "+ref.label)
			for _, b := range benches {
				fmt.Printf(" %12.2fx", runs[n][b]/base[b])
			}
			fmt.Println()
		}
	}
	return nil
}

// restoreFigures starts a kernel (IPython inside), which snapshots its
// interpreter, then restores kernels from that snapshot: the figures of a
// kernel start as the installed kernel does it.
func restoreFigures(ctx context.Context, rt *wasmpy.Runtime) error {
	dir, err := os.MkdirTemp("", "wasmpy-bench-snapshots-*")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	store := wasmpy.NewSnapshotStore(dir, nil)
	t0 := time.Now()
	k, err := rt.NewKernel(ctx, wasmpy.KernelConfig{Snapshots: store})
	if err != nil {
		return err
	}
	fmt.Printf("%-38s %8.1f ms\n", "kernel start from scratch + snapshot", ms(time.Since(t0)))
	k.WaitSnapshot()
	k.Close()
	var best time.Duration
	for i := 0; i < 5; i++ {
		t0 = time.Now()
		k, err := rt.NewKernel(ctx, wasmpy.KernelConfig{Snapshots: store})
		if err != nil {
			return err
		}
		d := time.Since(t0)
		if !k.Restored {
			return fmt.Errorf("the kernel was not restored from the snapshot")
		}
		k.Close()
		if i == 0 || d < best {
			best = d
		}
	}
	fmt.Printf("%-38s %8.1f ms\n", "kernel start from the snapshot (best)", ms(best))
	firstOut := make(chan time.Time, 1)
	t0 = time.Now()
	k, err = rt.NewKernel(ctx, wasmpy.KernelConfig{Snapshots: store})
	if err != nil {
		return err
	}
	defer k.Close()
	k.Interpreter().SetOutput(func(string, string) {
		select {
		case firstOut <- time.Now():
		default:
		}
	})
	if err := k.Interpreter().Exec(ctx, "print('ready', flush=True)"); err != nil {
		return err
	}
	fmt.Printf("%-38s %8.1f ms\n", "restore to first output", ms((<-firstOut).Sub(t0)))
	return nil
}

// pyodideCompute runs compute.py in Pyodide under Node, when node and the
// npm package (npm install --no-package-lock --prefix bench/pyodide) are there.
func pyodideCompute(computePath string, repeat int, scale float64) (map[string]float64, error) {
	node, err := exec.LookPath("node")
	if err != nil {
		return nil, fmt.Errorf("not measured: no node on PATH")
	}
	if _, err := os.Stat(filepath.Join("bench", "pyodide", "node_modules", "pyodide")); err != nil {
		return nil, fmt.Errorf("not measured: run `npm install --no-package-lock --prefix bench/pyodide` first")
	}
	b, err := exec.Command(node, filepath.Join("bench", "pyodide", "compute.mjs"), computePath, fmt.Sprint(repeat), fmt.Sprint(scale)).Output()
	if err != nil {
		return nil, fmt.Errorf("compute.py in Pyodide: %w", err)
	}
	s := string(b)
	i := strings.LastIndex(s, "COMPUTE ")
	if i < 0 {
		return nil, fmt.Errorf("no result from Pyodide: %q", s)
	}
	return parseCompute([]byte(s[i+len("COMPUTE "):])), nil
}

func wasmCompute(ctx context.Context, in *wasmpy.Interpreter, out *strings.Builder, code string) (map[string]float64, error) {
	out.Reset()
	if err := in.Exec(ctx, code); err != nil {
		return nil, fmt.Errorf("compute.py in wasmpy: %w", err)
	}
	s := out.String()
	i := strings.LastIndex(s, "COMPUTE ")
	if i < 0 {
		return nil, fmt.Errorf("no result from compute.py: %q", s)
	}
	return parseCompute([]byte(s[i+len("COMPUTE "):])), nil
}

func parseCompute(b []byte) map[string]float64 {
	var r struct {
		Bench map[string]struct {
			Best float64 `json:"best_s"`
		} `json:"bench"`
	}
	json.Unmarshal(b, &r)
	m := map[string]float64{}
	for k, v := range r.Bench {
		m[k] = v.Best
	}
	return m
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
