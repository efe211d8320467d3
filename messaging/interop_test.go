package messaging

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

const systemPython = "/usr/bin/python3"

// TestJupyterClientInterop runs testdata/interop_client.py, which uses
// jupyter_client's BlockingKernelClient, against a tiny responder built on
// Conn: kernel_info on shell and control, status on iopub, input_request on
// stdin, heartbeat. Both sides verify every signature.
func TestJupyterClientInterop(t *testing.T) {
	if testing.Short() {
		t.Skip("starts Python; skipped with -short")
	}
	if out, err := exec.Command(systemPython, "-c", "import jupyter_client, zmq").CombinedOutput(); err != nil {
		t.Skipf("%s lacks jupyter_client/pyzmq: %v: %s", systemPython, err, out)
	}
	for _, scheme := range []string{"hmac-sha256", "hmac-sha512"} {
		t.Run(scheme, func(t *testing.T) {
			info := tcpInfo("5b8f1e3c-0f0e-4c59-9c2a-key-" + scheme)
			info.SignatureScheme = scheme
			info.KernelName = "wasmpy"
			c, logs := listenTest(t, info)
			path := filepath.Join(t.TempDir(), "kernel.json")
			data, err := json.Marshal(c.Info())
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(path, data, 0o600); err != nil {
				t.Fatal(err)
			}

			ctx, cancel := context.WithTimeout(t.Context(), 90*time.Second)
			defer cancel()
			var wg sync.WaitGroup
			wg.Add(1)
			var sessions sync.Map
			go func() {
				defer wg.Done()
				respond(ctx, t, c, &sessions)
			}()
			out, err := exec.CommandContext(ctx, systemPython, "testdata/interop_client.py", path).CombinedOutput()
			cancel()
			wg.Wait()
			if err != nil || !strings.Contains(string(out), "OK") {
				t.Fatalf("interop_client.py: %v\n%s", err, out)
			}
			if _, ok := sessions.Load("rogue-session"); ok {
				t.Fatal("message signed with the wrong key was delivered")
			}
			logs.wait(t, "WARN dropped message", "socket=shell", "bad signature")
		})
	}
}

// respond is a minimal kernel for the interop test.
func respond(ctx context.Context, t *testing.T, c *Conn, sessions *sync.Map) {
	const session = "go-responder"
	publish := func(parent *Message, state string) {
		m, err := NewMessage("status", parent, session, map[string]string{"execution_state": state})
		if err == nil {
			err = c.Publish(m)
		}
		if err != nil {
			t.Errorf("publish status: %v", err)
		}
	}
	reply := func(ch Channel, parent *Message, msgType string, content any) {
		m, err := NewMessage(msgType, parent, session, content)
		if err == nil {
			err = c.Send(ch, m)
		}
		if err != nil {
			t.Errorf("send %s: %v", msgType, err)
		}
	}
	for {
		var req *Message
		ch := Shell
		select {
		case <-ctx.Done():
			return
		case req = <-c.Shell():
		case req = <-c.Control():
			ch = Control
		}
		sessions.Store(req.Header.Session, true)
		publish(req, "busy")
		switch req.Header.MsgType {
		case "kernel_info_request":
			reply(ch, req, "kernel_info_reply", map[string]any{
				"status": "ok", "protocol_version": ProtocolVersion, "implementation": "wasmpy-test",
				"implementation_version": "0", "banner": "",
				"language_info": map[string]string{"name": "python", "version": "3.13", "file_extension": ".py"},
			})
		case "execute_request":
			reply(Stdin, req, "input_request", map[string]any{"prompt": "name? ", "password": false})
			var value string
			select {
			case in := <-c.Stdin():
				var content struct{ Value string }
				if err := json.Unmarshal(in.Content, &content); err != nil || in.Header.MsgType != "input_reply" {
					t.Errorf("stdin message %s %s: %v", in.Header.MsgType, in.Content, err)
				}
				value = content.Value
			case <-ctx.Done():
				return
			}
			reply(Shell, req, "execute_reply", map[string]any{
				"status": "ok", "execution_count": 1, "payload": []any{},
				"user_expressions": map[string]string{"input": value},
			})
		default:
			t.Errorf("unexpected %s", req.Header.MsgType)
		}
		publish(req, "idle")
	}
}
