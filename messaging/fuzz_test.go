package messaging

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
)

// frameSep separates frames in FuzzDecode inputs. Valid JSON never contains
// a raw 0x1f byte, so JSON frames survive the split.
const frameSep = "\x1f"

const fuzzKey = "fuzz-key"

func FuzzDecode(f *testing.F) {
	seed := mustCodec(f, "hmac-sha256", fuzzKey, 0)
	unsigned := mustCodec(f, "hmac-sha256", "", 0)
	add := func(c *Codec, ids []string, header, parent, metadata, content string, buffers ...string) {
		frames := rawFrames(c, ids, header, parent, metadata, content, buffers...)
		f.Add(bytes.Join(frames, []byte(frameSep)), c == seed)
	}
	for _, c := range []*Codec{seed, unsigned} {
		add(c, nil, `{"msg_id":"1","msg_type":"kernel_info_request","session":"s","username":"u","date":"2024-01-01T00:00:00Z","version":"5.4"}`, `{}`, `{}`, `{}`)
		add(c, []string{"peer", "proxy"}, `{"msg_id":"2","msg_type":"execute_request"}`, `{"msg_id":"1","msg_type":"x"}`, `{"a":[1,2,{"b":null}]}`, `{"code":"print(\"hi\")\n","silent":false}`, "buf\x00", "")
		add(c, nil, `{"msg_id":"3","msg_type":"comm_msg","session":null,"extra":{"deep":[true]}}`, ` {}`, "{\n}", `{"data":"\u00e9\ud83d\ude00"}`)
		add(c, nil, `{"msg_id":"4","msg_type":"t"}`, `{}`, `{}`, `[]`)
		add(c, nil, `{"msg_id":"","msg_type":"t"}`, `{}`, `{}`, `{}`)
	}
	f.Add([]byte(Delimiter), false)
	f.Add([]byte(""), true)
	f.Fuzz(func(t *testing.T, data []byte, signed bool) {
		key := ""
		if signed {
			key = fuzzKey
		}
		frames := bytes.Split(data, []byte(frameSep))
		m, err := mustCodec(t, "hmac-sha256", key, 1<<20).Decode(frames)
		if err != nil {
			if m != nil {
				t.Fatalf("Decode returned a message and error %v", err)
			}
			return
		}
		c := mustCodec(t, "hmac-sha256", key, 1<<22)
		again, err := c.Encode(m)
		if err != nil {
			t.Fatalf("Encode of decoded message: %v", err)
		}
		m2, err := c.Decode(again)
		if err != nil {
			t.Fatalf("Decode of re-encoded message: %v", err)
		}
		if err := sameMessage(m, m2); err != nil {
			t.Fatal(err)
		}
	})
}

func FuzzParseConnectionInfo(f *testing.F) {
	files, _ := filepath.Glob("testdata/*.json")
	for _, name := range files {
		data, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Add([]byte(`{"ip":"x","key":"","shell_port":1,"control_port":2,"stdin_port":3,"iopub_port":4,"hb_port":5,"transport":"ipc","signature_scheme":"hmac-md5"}`))
	f.Add([]byte(`{"ip":null}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		info, err := ParseConnectionInfo(data)
		if err != nil {
			return
		}
		if err := info.Validate(); err != nil {
			t.Fatalf("parsed info does not validate: %v", err)
		}
		out, err := json.Marshal(info)
		if err != nil {
			t.Fatal(err)
		}
		back, err := ParseConnectionInfo(out)
		if err != nil {
			t.Fatalf("re-parse of %s: %v", out, err)
		}
		if back != info {
			t.Fatalf("round trip: %+v != %+v", back, info)
		}
		_ = info.Endpoint(info.ShellPort)
	})
}
