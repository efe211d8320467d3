// Command regrtest runs CPython's own test modules inside the wasmpy sandbox,
// one fresh interpreter per module, and prints (and optionally writes) how
// many tests passed, failed, errored and were skipped in each.
//
//	go run ./tests/regrtest [-list tests/regrtest/modules.txt] [-out results.md] [-timeout 180s]
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"wasmpy/wasmpy"
)

type result struct {
	Module   string  `json:"module"`
	Run      int     `json:"run"`
	Failures int     `json:"failures"`
	Errors   int     `json:"errors"`
	Skipped  int     `json:"skipped"`
	Seconds  float64 `json:"seconds"`
	Note     string  `json:"note,omitempty"`
}

const runner = `
import sys, io, json, time, unittest
sys.path.insert(0, '/opt/cpython-tests')
from test import support
t0 = time.perf_counter()
out = {'run': 0, 'failures': 0, 'errors': 0, 'skipped': 0, 'note': ''}
try:
    suite = unittest.defaultTestLoader.loadTestsFromName('test.' + MODULE)
    res = unittest.TextTestRunner(stream=io.StringIO(), verbosity=0).run(suite)
    out.update(run=res.testsRun, failures=len(res.failures), errors=len(res.errors),
               skipped=len(res.skipped))
    bad = [str(t) for t, _ in res.failures + res.errors][:5]
    if bad:
        out['note'] = 'first: ' + '; '.join(bad)
except unittest.SkipTest as e:
    out['note'] = 'module skipped: ' + str(e)
except BaseException as e:
    out['note'] = 'load failed: %s: %s' % (type(e).__name__, e)
out['seconds'] = time.perf_counter() - t0
sys.__stdout__.write('\nREGRTEST ' + json.dumps(out) + '\n')
sys.__stdout__.flush()
`

func main() {
	list := flag.String("list", "tests/regrtest/modules.txt", "file with one test module a line")
	outPath := flag.String("out", "", "write a Markdown table here")
	timeout := flag.Duration("timeout", 180*time.Second, "time limit per module")
	parallel := flag.Int("parallel", 2, "modules run at once, each in its own interpreter")
	flag.Parse()
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	if err := run(*list, *outPath, *timeout, *parallel, log); err != nil {
		fmt.Fprintln(os.Stderr, "regrtest:", err)
		os.Exit(1)
	}
}

func run(list, outPath string, timeout time.Duration, parallel int, log *slog.Logger) error {
	mods, err := readList(list)
	if err != nil {
		return err
	}
	ctx := context.Background()
	rt, err := wasmpy.LoadRuntime(ctx, wasmpy.RuntimeConfig{Logger: log, HardStop: true})
	if err != nil {
		return err
	}
	defer rt.Close(ctx)
	tz, closeTZ, err := wasmpy.OpenZipFS(filepath.Join(rt.Dir(), "tests.zip"))
	if err != nil {
		return fmt.Errorf("open the test suite: %w", err)
	}
	defer closeTZ()

	results := make([]result, len(mods))
	var tot result
	start := time.Now()
	var mu sync.Mutex
	next := 0
	var wg sync.WaitGroup
	for w := 0; w < max(1, parallel); w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				mu.Lock()
				i := next
				next++
				mu.Unlock()
				if i >= len(mods) {
					return
				}
				r := runModule(ctx, rt, tz, mods[i], timeout, log)
				mu.Lock()
				results[i] = r
				fmt.Printf("%-26s run %5d  fail %3d  err %3d  skip %4d  %6.1fs  %s\n",
					r.Module, r.Run, r.Failures, r.Errors, r.Skipped, r.Seconds, r.Note)
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	for _, r := range results {
		tot.Run += r.Run
		tot.Failures += r.Failures
		tot.Errors += r.Errors
		tot.Skipped += r.Skipped
	}
	passed := tot.Run - tot.Failures - tot.Errors - tot.Skipped
	fmt.Printf("modules %d, tests run %d, passed %d, failed %d, errors %d, skipped %d, in %s\n",
		len(mods), tot.Run, passed, tot.Failures, tot.Errors, tot.Skipped, time.Since(start).Round(time.Second))
	if outPath != "" {
		return writeMarkdown(outPath, rt.Manifest(), results, tot, time.Since(start))
	}
	return nil
}

func runModule(ctx context.Context, rt *wasmpy.Runtime, tz fs.FS, mod string, timeout time.Duration, log *slog.Logger) result {
	r := result{Module: mod}
	var stdout strings.Builder
	in, err := rt.NewInterpreter(ctx, wasmpy.Config{
		FSMounts: []wasmpy.FSMount{{FS: tz, Guest: "/opt/cpython-tests"}},
		Output: func(stream, text string) {
			if stream == "stdout" {
				stdout.WriteString(text)
			}
		},
		InterruptGrace: 2 * time.Second,
		Logger:         log,
	})
	if err != nil {
		r.Note = "start: " + err.Error()
		return r
	}
	defer in.Close()
	t := time.AfterFunc(timeout, in.Interrupt)
	defer t.Stop()
	start := time.Now()
	err = in.Exec(ctx, "MODULE = "+fmt.Sprintf("%q", mod)+"\n"+runner)
	r.Seconds = time.Since(start).Seconds()
	s := stdout.String()
	if i := strings.LastIndex(s, "\nREGRTEST "); i >= 0 {
		line := strings.TrimSpace(s[i+len("\nREGRTEST "):])
		if e := json.Unmarshal([]byte(line), &r); e != nil {
			r.Note = "bad result line: " + e.Error()
		}
		r.Module = mod
	} else if err != nil {
		r.Note = "crashed: " + err.Error()
		if errors.Is(err, wasmpy.ErrExecFailed) {
			r.Note = "raised (timeout or interrupt?)"
		}
	}
	return r
}

func readList(path string) ([]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var mods []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		l := strings.TrimSpace(sc.Text())
		if l != "" && !strings.HasPrefix(l, "#") {
			mods = append(mods, l)
		}
	}
	return mods, sc.Err()
}

func writeMarkdown(path string, man wasmpy.Manifest, rs []result, tot result, took time.Duration) error {
	var b strings.Builder
	fmt.Fprintf(&b, "# CPython's regression tests inside the wasmpy sandbox\n\n")
	fmt.Fprintf(&b, "Python %s (runtime %s), %s, %d modules in %s.\n\n", man.Python, man.ID,
		time.Now().UTC().Format("2006-01-02"), len(rs), took.Round(time.Second))
	fmt.Fprintf(&b, "| module | run | passed | failed | errors | skipped | seconds | note |\n|---|---|---|---|---|---|---|---|\n")
	for _, r := range rs {
		fmt.Fprintf(&b, "| %s | %d | %d | %d | %d | %d | %.1f | %s |\n", r.Module, r.Run,
			r.Run-r.Failures-r.Errors-r.Skipped, r.Failures, r.Errors, r.Skipped, r.Seconds,
			strings.ReplaceAll(r.Note, "|", "/"))
	}
	fmt.Fprintf(&b, "| **total** | %d | %d | %d | %d | %d | | |\n", tot.Run,
		tot.Run-tot.Failures-tot.Errors-tot.Skipped, tot.Failures, tot.Errors, tot.Skipped)
	return os.WriteFile(path, []byte(b.String()), 0o644)
}
