package messaging

import (
	"crypto/hmac"
	"crypto/md5"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/hex"
	"fmt"
	"hash"
	"sync"
)

const schemes = "hmac-md5, hmac-sha1, hmac-sha224, hmac-sha256, hmac-sha384, hmac-sha512"

func newHash(scheme string) (func() hash.Hash, error) {
	switch scheme {
	case "hmac-md5":
		return md5.New, nil
	case "hmac-sha1":
		return sha1.New, nil
	case "hmac-sha224":
		return sha256.New224, nil
	case "hmac-sha256":
		return sha256.New, nil
	case "hmac-sha384":
		return sha512.New384, nil
	case "hmac-sha512":
		return sha512.New, nil
	}
	return nil, fmt.Errorf("unsupported scheme %q (want one of %s)", scheme, schemes)
}

// signer computes the HMAC of the four JSON frames of a message. A signer
// with an empty key signs with an empty signature and accepts any.
type signer struct {
	key     []byte
	newHash func() hash.Hash
}

func newSigner(scheme string, key []byte) (*signer, error) {
	h, err := newHash(scheme)
	if err != nil {
		return nil, err
	}
	return &signer{key: append([]byte(nil), key...), newHash: h}, nil
}

func (s *signer) enabled() bool { return len(s.key) > 0 }

// sign returns the lower-case hex HMAC over parts, or nil without a key.
func (s *signer) sign(parts ...[]byte) []byte {
	if !s.enabled() {
		return nil
	}
	mac := hmac.New(s.newHash, s.key)
	for _, p := range parts {
		mac.Write(p)
	}
	sum := mac.Sum(nil)
	out := make([]byte, hex.EncodedLen(len(sum)))
	hex.Encode(out, sum)
	return out
}

// verify reports whether sig is the signature of parts, in constant time.
func (s *signer) verify(sig []byte, parts ...[]byte) bool {
	if !s.enabled() {
		return true
	}
	return hmac.Equal(sig, s.sign(parts...))
}

// DefaultHistorySize is how many signatures a Codec remembers to detect
// replays (jupyter_client's Session keeps 2^16 as well).
const DefaultHistorySize = 1 << 16

// digestHistory remembers the last limit signatures seen, dropping the oldest.
type digestHistory struct {
	mu    sync.Mutex
	limit int
	seen  map[string]struct{}
	ring  []string // grows to limit, then next wraps around it
	next  int
}

func newDigestHistory(limit int) *digestHistory {
	return &digestHistory{limit: limit, seen: make(map[string]struct{})}
}

// add records sig and reports false if it was already recorded.
func (h *digestHistory) add(sig []byte) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	if _, dup := h.seen[string(sig)]; dup {
		return false
	}
	s := string(sig)
	h.seen[s] = struct{}{}
	if len(h.ring) < h.limit {
		h.ring = append(h.ring, s)
		return true
	}
	delete(h.seen, h.ring[h.next])
	h.ring[h.next] = s
	h.next = (h.next + 1) % h.limit
	return true
}
