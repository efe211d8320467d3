package main

import "testing"

func TestSizeFlags(t *testing.T) {
	mem := []struct {
		in   string
		want memoryFlag
		ok   bool
	}{
		{"512M", 512, true}, {"2G", 2048, true}, {"1.5g", 1536, true}, {"65536K", 64, true},
		{"100", 100, true}, {"512MiB", 512, true}, {"1GB", 1024, true},
		{"32M", 0, false}, {"abc", 0, false}, {"-1G", 0, false}, {"", 0, false},
	}
	for _, tc := range mem {
		var m memoryFlag
		err := m.Set(tc.in)
		if (err == nil) != tc.ok || (tc.ok && m != tc.want) {
			t.Errorf("--memory %q: got %d, %v; want %d, ok %v", tc.in, m, err, tc.want, tc.ok)
		}
	}
	bytes := []struct {
		in   string
		want byteSize
		ok   bool
	}{
		{"500K", 500 << 10, true}, {"64M", 64 << 20, true}, {"1000", 1000, true}, {"1G", 1 << 30, true},
		{"0", 0, false}, {"0.5", 0, false}, {"lots", 0, false}, {"2T", 0, false}, {"2048G", 0, false},
	}
	for _, tc := range bytes {
		var b byteSize
		err := b.Set(tc.in)
		if (err == nil) != tc.ok || (tc.ok && b != tc.want) {
			t.Errorf("--fetch-max-bytes %q: got %d, %v; want %d, ok %v", tc.in, b, err, tc.want, tc.ok)
		}
	}
}
