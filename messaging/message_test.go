package messaging

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"
)

// rawFrames returns the wire frames of a message with the given JSON parts,
// signed by codec c.
func rawFrames(c *Codec, ids []string, header, parent, metadata, content string, buffers ...string) [][]byte {
	var f [][]byte
	for _, id := range ids {
		f = append(f, []byte(id))
	}
	f = append(f, []byte(Delimiter), c.signer.sign([]byte(header), []byte(parent), []byte(metadata), []byte(content)),
		[]byte(header), []byte(parent), []byte(metadata), []byte(content))
	for _, b := range buffers {
		f = append(f, []byte(b))
	}
	return f
}

func mustCodec(t testing.TB, scheme, key string, max int64) *Codec {
	t.Helper()
	c, err := NewCodec(scheme, []byte(key), max)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// TestKnownSignatures checks digests against Python's hmac module.
func TestKnownSignatures(t *testing.T) {
	want := map[string]string{
		"hmac-md5":    "40a372a4c79ba90df73beb65b86d9e15",
		"hmac-sha1":   "3b7089531799a3b6e2c38c8f2885b63fcf4ce0b5",
		"hmac-sha224": "95644048f20fd72b090dbddf8fc36dfb24c7c8f9e08b4961be36d325",
		"hmac-sha256": "7ca9ac7f2cc97ad7dd6e17b70113a0bb89ccee10e87c9cb0dcd0f10e6022226d",
		"hmac-sha384": "e2e9c5cb46a83656e837274cf4de34948c75e8da5f3cf818a849df2f37b5eafe77079191da8e3c8bcb8919e8d15ce97a",
		"hmac-sha512": "ed49c839807e284ed490b63bd7f3b17233497ada4b4cacd6215de55ba8436d579fe7f371840d7acee088128d3c5c844a73f5c841128287029acd9c4318a74751",
	}
	for scheme, digest := range want {
		c := mustCodec(t, scheme, "secret", 0)
		got := c.signer.sign([]byte(`{"msg_id":"1","msg_type":"t"}`), []byte(`{}`), []byte(`{}`), []byte(`{"a":1}`))
		if string(got) != digest {
			t.Errorf("%s: got %s, want %s", scheme, got, digest)
		}
	}
}

func TestSignVerifyRoundTrip(t *testing.T) {
	schemes := []string{"hmac-md5", "hmac-sha1", "hmac-sha224", "hmac-sha256", "hmac-sha384", "hmac-sha512", ""}
	for _, scheme := range schemes {
		for _, key := range []string{"secret", ""} {
			t.Run(fmt.Sprintf("%s/key=%q", scheme, key), func(t *testing.T) {
				parent, err := NewMessage("kernel_info_request", nil, "client-session", nil)
				if err != nil {
					t.Fatal(err)
				}
				parent.Identities = [][]byte{[]byte("peer")}
				m, err := NewMessage("kernel_info_reply", parent, "kernel-session", map[string]any{"status": "ok"})
				if err != nil {
					t.Fatal(err)
				}
				m.Buffers = [][]byte{{0, 1, 2}, {}}
				frames, err := mustCodec(t, scheme, key, 0).Encode(m)
				if err != nil {
					t.Fatal(err)
				}
				if key == "" && len(frames[2]) != 0 {
					t.Fatalf("unsigned message has signature %q", frames[2])
				}
				got, err := mustCodec(t, scheme, key, 0).Decode(frames)
				if err != nil {
					t.Fatalf("Decode: %v", err)
				}
				if err := sameMessage(m, got); err != nil {
					t.Fatal(err)
				}
				if key == "" {
					return
				}
				other := mustCodec(t, scheme, "other key", 0)
				if _, err := other.Decode(frames); !errors.Is(err, ErrBadSignature) {
					t.Fatalf("decode with another key: err = %v, want ErrBadSignature", err)
				}
			})
		}
	}
}

func sameMessage(a, b *Message) error {
	eq := func(x, y [][]byte) bool {
		if len(x) != len(y) {
			return false
		}
		for i := range x {
			if !bytes.Equal(x[i], y[i]) {
				return false
			}
		}
		return true
	}
	obj := func(r json.RawMessage) string {
		if len(r) == 0 {
			return "{}"
		}
		return string(r)
	}
	switch {
	case !eq(a.Identities, b.Identities):
		return fmt.Errorf("identities %q != %q", a.Identities, b.Identities)
	case a.Header != b.Header:
		return fmt.Errorf("header %+v != %+v", a.Header, b.Header)
	case obj(a.ParentHeader) != obj(b.ParentHeader):
		return fmt.Errorf("parent header %s != %s", a.ParentHeader, b.ParentHeader)
	case obj(a.Metadata) != obj(b.Metadata):
		return fmt.Errorf("metadata %s != %s", a.Metadata, b.Metadata)
	case obj(a.Content) != obj(b.Content):
		return fmt.Errorf("content %s != %s", a.Content, b.Content)
	case !eq(a.Buffers, b.Buffers):
		return fmt.Errorf("buffers %q != %q", a.Buffers, b.Buffers)
	}
	return nil
}

func TestDecodeRejects(t *testing.T) {
	const hdr = `{"msg_id":"m1","msg_type":"execute_request","session":"s","username":"u","date":"","version":"5.4"}`
	signed := mustCodec(t, "hmac-sha256", "secret", 0)
	tamper := func(f [][]byte, i int, s string) [][]byte { f[i] = []byte(s); return f }
	tests := []struct {
		name   string
		frames [][]byte
		max    int64
		want   error
		detail string
	}{
		{name: "tampered signature", want: ErrBadSignature,
			frames: tamper(rawFrames(signed, nil, hdr, "{}", "{}", "{}"), 1, strings.Repeat("0", 64))},
		{name: "missing signature", want: ErrBadSignature,
			frames: tamper(rawFrames(signed, nil, hdr, "{}", "{}", "{}"), 1, "")},
		{name: "tampered content", want: ErrBadSignature,
			frames: tamper(rawFrames(signed, nil, hdr, "{}", "{}", `{"code":"1"}`), 5, `{"code":"2"}`)},
		{name: "upper-case hex", want: ErrBadSignature, frames: func() [][]byte {
			f := rawFrames(signed, nil, hdr, "{}", "{}", "{}")
			f[1] = bytes.ToUpper(f[1])
			return f
		}()},
		{name: "no delimiter", want: ErrMalformed, detail: "delimiter",
			frames: rawFrames(signed, nil, hdr, "{}", "{}", "{}")[1:]},
		{name: "truncated", want: ErrMalformed, detail: "at least 5",
			frames: rawFrames(signed, []string{"id"}, hdr, "{}", "{}", "{}")[:6]},
		{name: "content not object", want: ErrMalformed, detail: "content",
			frames: rawFrames(signed, nil, hdr, "{}", "{}", `[1,2]`)},
		{name: "content bad JSON", want: ErrMalformed, detail: "content",
			frames: rawFrames(signed, nil, hdr, "{}", "{}", `{"a":`)},
		{name: "metadata string", want: ErrMalformed, detail: "metadata",
			frames: rawFrames(signed, nil, hdr, "{}", `"x"`, `{}`)},
		{name: "parent header null", want: ErrMalformed, detail: "parent_header",
			frames: rawFrames(signed, nil, hdr, "null", `{}`, `{}`)},
		{name: "header not object", want: ErrMalformed, detail: "header",
			frames: rawFrames(signed, nil, `"h"`, "{}", `{}`, `{}`)},
		{name: "no msg_id", want: ErrMalformed, detail: "msg_id",
			frames: rawFrames(signed, nil, `{"msg_type":"a","session":"s"}`, "{}", `{}`, `{}`)},
		{name: "msg_id wrong case", want: ErrMalformed, detail: "msg_id",
			frames: rawFrames(signed, nil, `{"MSG_ID":"x","msg_type":"a"}`, "{}", `{}`, `{}`)},
		{name: "empty msg_type", want: ErrMalformed, detail: "msg_type",
			frames: rawFrames(signed, nil, `{"msg_id":"x","msg_type":""}`, "{}", `{}`, `{}`)},
		{name: "numeric session", want: ErrMalformed, detail: "session",
			frames: rawFrames(signed, nil, `{"msg_id":"x","msg_type":"a","session":3}`, "{}", `{}`, `{}`)},
		{name: "oversized", want: ErrTooLarge, max: 1000,
			frames: rawFrames(signed, nil, hdr, "{}", "{}", `{"code":"`+strings.Repeat("x", 1000)+`"}`)},
		{name: "oversized buffer", want: ErrTooLarge, max: 1000,
			frames: rawFrames(signed, nil, hdr, "{}", "{}", `{}`, strings.Repeat("x", 1000))},
		{name: "too many frames", want: ErrTooLarge,
			frames: append(rawFrames(signed, nil, hdr, "{}", "{}", `{}`), make([][]byte, MaxFrames)...)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := mustCodec(t, "hmac-sha256", "secret", tt.max)
			m, err := c.Decode(tt.frames)
			if !errors.Is(err, tt.want) {
				t.Fatalf("Decode = %+v, %v; want %v", m, err, tt.want)
			}
			if !strings.Contains(err.Error(), tt.detail) {
				t.Fatalf("error %q does not mention %q", err, tt.detail)
			}
		})
	}
}

func TestDecodeLenientHeader(t *testing.T) {
	c := mustCodec(t, "hmac-sha256", "secret", 0)
	m, err := c.Decode(rawFrames(c, []string{"a", "b"}, `{"msg_id":"x","msg_type":"t","extra":[1],"session":null}`, "{}", `{}`, ` {"k":[]}`))
	if err != nil {
		t.Fatal(err)
	}
	if m.Header.MsgID != "x" || m.Header.MsgType != "t" || m.Header.Session != "" || m.Header.Version != "" {
		t.Fatalf("header = %+v", m.Header)
	}
	if len(m.Identities) != 2 || string(m.Identities[1]) != "b" || string(m.Content) != ` {"k":[]}` {
		t.Fatalf("message = %+v", m)
	}
}

func TestReplay(t *testing.T) {
	c := mustCodec(t, "hmac-sha256", "secret", 0)
	f1 := rawFrames(c, nil, `{"msg_id":"1","msg_type":"t"}`, "{}", "{}", "{}")
	f2 := rawFrames(c, nil, `{"msg_id":"2","msg_type":"t"}`, "{}", "{}", "{}")
	if _, err := c.Decode(f1); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Decode(f1); !errors.Is(err, ErrReplay) {
		t.Fatalf("second decode: err = %v, want ErrReplay", err)
	}
	if _, err := c.Decode(f2); err != nil {
		t.Fatalf("different message rejected: %v", err)
	}
	// A bad signature is not recorded: the genuine message still passes.
	c2 := mustCodec(t, "hmac-sha256", "secret", 0)
	bad := append([][]byte(nil), f1...)
	bad[5] = []byte(`{"x":1}`)
	if _, err := c2.Decode(bad); !errors.Is(err, ErrBadSignature) {
		t.Fatal(err)
	}
	if _, err := c2.Decode(f1); err != nil {
		t.Fatal(err)
	}
	// Without a key there is nothing to replay-check.
	c3 := mustCodec(t, "hmac-sha256", "", 0)
	u := rawFrames(c3, nil, `{"msg_id":"1","msg_type":"t"}`, "{}", "{}", "{}")
	for range 2 {
		if _, err := c3.Decode(u); err != nil {
			t.Fatal(err)
		}
	}
}

func TestDigestHistoryDropsOldest(t *testing.T) {
	h := newDigestHistory(3)
	for _, s := range []string{"a", "b", "c"} {
		if !h.add([]byte(s)) {
			t.Fatalf("add(%s) = false", s)
		}
	}
	if h.add([]byte("a")) {
		t.Fatal("a accepted twice")
	}
	h.add([]byte("d")) // evicts a
	if !h.add([]byte("a")) {
		t.Fatal("a not evicted after 3 newer digests")
	}
	if h.add([]byte("d")) || h.add([]byte("c")) {
		t.Fatal("recent digests forgotten")
	}
	if len(h.seen) != 3 {
		t.Fatalf("history holds %d digests, want 3", len(h.seen))
	}
}

func TestNewMessage(t *testing.T) {
	parent := &Message{
		Identities: [][]byte{[]byte("id1"), []byte("id2")},
		Header:     Header{MsgID: "p1", Session: "cs", Username: "alice", Date: "d", MsgType: "execute_request", Version: "5.3"},
	}
	before := time.Now().UTC().Add(-time.Second)
	m, err := NewMessage("execute_reply", parent, "ks", json.RawMessage(`{"status":"ok"}`))
	if err != nil {
		t.Fatal(err)
	}
	h := m.Header
	if h.MsgType != "execute_reply" || h.Session != "ks" || h.Username != "kernel" || h.Version != "5.5" || len(h.MsgID) != 36 {
		t.Fatalf("header = %+v", h)
	}
	date, err := time.Parse(time.RFC3339Nano, h.Date)
	if err != nil || !strings.HasSuffix(h.Date, "Z") || date.Before(before) || date.After(time.Now().Add(time.Second)) {
		t.Fatalf("date %q: %v", h.Date, err)
	}
	var ph Header
	if err := json.Unmarshal(m.ParentHeader, &ph); err != nil || ph != parent.Header {
		t.Fatalf("parent header %s: %v", m.ParentHeader, err)
	}
	if string(m.Content) != `{"status":"ok"}` || string(m.Metadata) != "{}" {
		t.Fatalf("content %s metadata %s", m.Content, m.Metadata)
	}
	if len(m.Identities) != 2 || string(m.Identities[0]) != "id1" {
		t.Fatalf("identities %q", m.Identities)
	}
	m.Identities[0][0] = 'X'
	if string(parent.Identities[0]) != "id1" {
		t.Fatal("identities share memory with the parent")
	}

	orphan, err := NewMessage("status", nil, "ks", struct {
		State string `json:"execution_state"`
	}{"idle"})
	if err != nil {
		t.Fatal(err)
	}
	if string(orphan.ParentHeader) != "{}" || orphan.Identities != nil || string(orphan.Content) != `{"execution_state":"idle"}` {
		t.Fatalf("orphan = %+v", orphan)
	}
	other, _ := NewMessage("status", nil, "ks", nil)
	if other.Header.MsgID == orphan.Header.MsgID || string(other.Content) != "{}" {
		t.Fatalf("msg ids %s %s, content %s", other.Header.MsgID, orphan.Header.MsgID, other.Content)
	}

	for _, bad := range []any{5, "x", []int{1}, json.RawMessage(`[]`), make(chan int)} {
		if _, err := NewMessage("t", nil, "s", bad); err == nil {
			t.Errorf("NewMessage with content %T succeeded", bad)
		}
	}
}

func TestEncodeRejectsNonObject(t *testing.T) {
	c := mustCodec(t, "hmac-sha256", "k", 0)
	m := &Message{Header: Header{MsgID: "1", MsgType: "t"}, Metadata: json.RawMessage(`[]`)}
	if _, err := c.Encode(m); !errors.Is(err, ErrMalformed) {
		t.Fatalf("Encode = %v, want ErrMalformed", err)
	}
	m = &Message{Header: Header{MsgID: "1", MsgType: "t"}}
	f, err := c.Encode(m)
	if err != nil {
		t.Fatal(err)
	}
	for i, want := range []string{Delimiter, "", `{"msg_id":"1","session":"","username":"","date":"","msg_type":"t","version":""}`, "{}", "{}", "{}"} {
		if i != 1 && string(f[i]) != want {
			t.Errorf("frame %d = %q, want %q", i, f[i], want)
		}
	}
}

func BenchmarkDecode(b *testing.B) {
	c := mustCodec(b, "hmac-sha256", "secret", 0)
	m, _ := NewMessage("execute_request", nil, "s", map[string]any{"code": strings.Repeat("x = 1\n", 100), "silent": false})
	m.Identities = [][]byte{[]byte("peer")}
	frames, _ := c.Encode(m)
	b.SetBytes(int64(len(bytes.Join(frames, nil))))
	c.history = nil // the same frames again would be a replay
	for b.Loop() {
		if _, err := c.Decode(frames); err != nil {
			b.Fatal(err)
		}
	}
}
