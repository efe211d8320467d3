package wasmpy

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"strconv"
	"testing"
)

// The argument of every call into Python goes through a guest buffer kept
// between calls (argBuffer). Arguments of every size, at every nesting
// depth, replacing the buffer while an outer call runs, and arguments too
// large to keep must all arrive intact.
func TestArgumentBufferReuse(t *testing.T) {
	in, out := newInterp(t, Config{})
	// "nest" sends Python's "digest" handler a payload of n bytes and
	// checks the SHA-256 it answers.
	in.Register("nest", func(ctx context.Context, data []byte) ([]byte, error) {
		n, err := strconv.Atoi(string(data))
		if err != nil {
			return nil, err
		}
		payload := bytes.Repeat([]byte{byte('a' + n%26)}, n)
		payload[len(payload)-1] = 'Z'
		got, err := in.Dispatch(ctx, "digest", payload)
		if err != nil {
			return nil, err
		}
		sum := sha256.Sum256(payload)
		if string(got) != hex.EncodeToString(sum[:]) {
			return []byte("bad"), nil
		}
		return []byte("ok"), nil
	})
	got := mustExec(t, in, out, `
import _wasmpy_rt, hashlib
def digest(data):
    n = len(data)
    if n > 1 and n % 3 == 0:
        # a nested call with a larger argument replaces the kept buffer
        # while this call's argument (already copied) is still in use
        assert _wasmpy_rt.call('nest', str(n * 2 + 1).encode()) == b'ok'
    return hashlib.sha256(data).hexdigest().encode()
_wasmpy_rt.register('digest', digest)
res = set()
for n in [1, 2, 3, 255, 256, 257, 1000, 4096, 65535, 65536, 65537, 200000, 7, 100, 3000]:
    res.add(_wasmpy_rt.call('nest', str(n).encode()))
print(sorted(res))
`)
	if got != "[b'ok']\n" {
		t.Fatalf("got %q, stderr %q", got, out.text("stderr"))
	}
	// Exec shares the buffer: a long source after short ones, then a
	// short one again.
	long := "x = '" + string(bytes.Repeat([]byte("y"), 100000)) + "'\nprint(len(x))\n"
	if got := mustExec(t, in, out, long); got != "100000\n" {
		t.Fatalf("long exec: %q", got)
	}
	if got := mustExec(t, in, out, "print(len(x) + 1)\n"); got != "100001\n" {
		t.Fatalf("short exec: %q", got)
	}
}
