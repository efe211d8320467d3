// Command guestprof names the compiled wasm in a perf profile of a wasmpy
// kernel: it reads `perf report --sort sym --stdio` on standard input, where
// wazero's perf map (the perfmap build tag) calls each block of guest code
// "[i/n].$F:::::Lk", and prints the share of each function, named from the
// runtime's name section (python.names, kept beside python.wasm by the
// build), with the Go host's symbols beside them. bench/guestprof.sh runs
// the whole thing.
//
//	perf report -i perf.data --sort sym --stdio | go run ./bench/guestprof -names python.names [-top 60]
package main

import (
	"bufio"
	"flag"
	"fmt"
	"os"
	"regexp"
	"sort"
	"strconv"
	"strings"
)

func main() {
	namesPath := flag.String("names", "", "the runtime's python.names (a wasm name section)")
	top := flag.Int("top", 60, "functions to print")
	flag.Parse()
	names, err := readNames(*namesPath)
	if err != nil {
		fmt.Fprintln(os.Stderr, "guestprof:", err)
		os.Exit(1)
	}
	shares, guest, total, err := aggregate(bufio.NewScanner(os.Stdin), names)
	if err != nil {
		fmt.Fprintln(os.Stderr, "guestprof:", err)
		os.Exit(1)
	}
	type row struct {
		name  string
		share float64
	}
	rows := make([]row, 0, len(shares))
	for n, s := range shares {
		rows = append(rows, row{n, s})
	}
	sort.Slice(rows, func(i, j int) bool { return rows[i].share > rows[j].share })
	fmt.Printf("samples in guest code: %.1f%% of %.1f%%\n", guest, total)
	for i, r := range rows {
		if i == *top {
			break
		}
		fmt.Printf("%6.2f%%  %s\n", r.share, r.name)
	}
}

// blockSym is wazero's perf map name of a block of compiled guest code.
var blockSym = regexp.MustCompile(`^\[\d+/\d+\]\.\$(\d+):`)

// aggregate sums perf's per-symbol shares by function: guest blocks by the
// function they belong to ("wasm " + its name), host symbols as they are.
func aggregate(sc *bufio.Scanner, names map[int]string) (shares map[string]float64, guest, total float64, err error) {
	shares = map[string]float64{}
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		pct, rest, ok := strings.Cut(line, "%")
		if !ok {
			continue
		}
		share, perr := strconv.ParseFloat(strings.TrimSpace(pct), 64)
		if perr != nil {
			continue
		}
		// "[.] symbol" or "[k] symbol"
		rest = strings.TrimSpace(rest)
		if len(rest) > 4 && rest[0] == '[' {
			rest = strings.TrimSpace(rest[3:])
		}
		total += share
		if m := blockSym.FindStringSubmatch(rest); m != nil {
			idx, _ := strconv.Atoi(m[1])
			name, ok := names[idx]
			if !ok {
				name = "$" + m[1]
			}
			shares["wasm "+name] += share
			guest += share
			continue
		}
		shares[rest] += share
	}
	return shares, guest, total, sc.Err()
}

// readNames reads the function names of a wasm name section (in a module
// that may hold only that section).
func readNames(path string) (map[int]string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	if len(b) < 8 || string(b[:4]) != "\x00asm" {
		return nil, fmt.Errorf("%s: not a wasm module", path)
	}
	names := map[int]string{}
	r := &reader{b: b, i: 8}
	for r.i < len(b) {
		id := r.byte()
		end := r.i + int(r.uleb())
		if id == 0 && end <= len(b) {
			n := int(r.uleb())
			if r.i+n <= end && string(b[r.i:r.i+n]) == "name" {
				r.i += n
				for r.i < end {
					sub := r.byte()
					subEnd := r.i + int(r.uleb())
					if sub == 1 {
						for c := int(r.uleb()); c > 0; c-- {
							idx := int(r.uleb())
							l := int(r.uleb())
							names[idx] = string(b[r.i : r.i+l])
							r.i += l
						}
					}
					r.i = subEnd
				}
			}
		}
		if r.err != nil || end > len(b) {
			return nil, fmt.Errorf("%s: truncated section", path)
		}
		r.i = end
	}
	if len(names) == 0 {
		return nil, fmt.Errorf("%s: no function names", path)
	}
	return names, nil
}

type reader struct {
	b   []byte
	i   int
	err error
}

func (r *reader) byte() byte {
	if r.i >= len(r.b) {
		r.err = fmt.Errorf("truncated")
		return 0
	}
	c := r.b[r.i]
	r.i++
	return c
}

func (r *reader) uleb() uint64 {
	var v uint64
	for s := uint(0); s < 64; s += 7 {
		c := r.byte()
		v |= uint64(c&0x7f) << s
		if c < 0x80 || r.err != nil {
			break
		}
	}
	return v
}
