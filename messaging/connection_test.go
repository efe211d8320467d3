package messaging

import (
	"path/filepath"
	"strings"
	"testing"
)

func TestReadConnectionFile(t *testing.T) {
	tests := []struct {
		file    string
		want    ConnectionInfo
		wantErr string // substring; "" means success
	}{
		{file: "good_tcp.json", want: ConnectionInfo{
			Transport: "tcp", IP: "127.0.0.1",
			ShellPort: 53794, ControlPort: 53797, StdinPort: 53796, IOPubPort: 53795, HBPort: 53798,
			Key: "a0436f6c-1916-498b-8eb9-e81ab9368e84", SignatureScheme: "hmac-sha256", KernelName: "wasmpy",
		}},
		{file: "good_ipc.json", want: ConnectionInfo{
			Transport: "ipc", IP: "/tmp/kernel-1234",
			ShellPort: 1, IOPubPort: 2, StdinPort: 3, ControlPort: 4, HBPort: 5,
			Key: "secret", SignatureScheme: "hmac-sha512",
		}},
		{file: "good_nokey_defaults.json", want: ConnectionInfo{
			Transport: "tcp", IP: "::1",
			ShellPort: 1, IOPubPort: 2, StdinPort: 3, ControlPort: 4, HBPort: 65535,
			Key: "", SignatureScheme: "hmac-sha256",
		}},
		{file: "bad_transport.json", wantErr: `transport: "udp"`},
		{file: "bad_ip_empty.json", wantErr: "ip: empty"},
		{file: "bad_ip_missing.json", wantErr: "ip: missing"},
		{file: "bad_port_range.json", wantErr: "stdin_port: 70000 is not in 1..65535"},
		{file: "bad_port_zero.json", wantErr: "shell_port: 0 is not in 1..65535"},
		{file: "bad_port_dup.json", wantErr: "hb_port: 1 is also shell_port"},
		{file: "bad_port_missing.json", wantErr: "control_port: missing"},
		{file: "bad_port_string.json", wantErr: "shell_port"},
		{file: "bad_scheme.json", wantErr: `signature_scheme: unsupported scheme "hmac-sha3"`},
		{file: "bad_key_missing.json", wantErr: "key: missing"},
		{file: "bad_truncated.json", wantErr: "invalid JSON"},
		{file: "bad_not_object.json", wantErr: "not a JSON object"},
		{file: "does_not_exist.json", wantErr: "read connection file"},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			path := filepath.Join("testdata", tt.file)
			got, err := ReadConnectionFile(path)
			if tt.wantErr != "" {
				if err == nil {
					t.Fatalf("ReadConnectionFile(%s) = %+v, want error containing %q", tt.file, got, tt.wantErr)
				}
				if !strings.Contains(err.Error(), tt.wantErr) || !strings.Contains(err.Error(), tt.file) {
					t.Fatalf("error %q does not name the file and contain %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("ReadConnectionFile(%s): %v", tt.file, err)
			}
			if got != tt.want {
				t.Fatalf("ReadConnectionFile(%s)\n got %+v\nwant %+v", tt.file, got, tt.want)
			}
		})
	}
}

func TestEndpoint(t *testing.T) {
	tests := []struct {
		info ConnectionInfo
		port int
		want string
	}{
		{ConnectionInfo{Transport: "tcp", IP: "127.0.0.1"}, 5555, "tcp://127.0.0.1:5555"},
		{ConnectionInfo{Transport: "tcp", IP: "::1"}, 5555, "tcp://[::1]:5555"},
		{ConnectionInfo{Transport: "tcp", IP: "*"}, 1, "tcp://*:1"},
		{ConnectionInfo{Transport: "ipc", IP: "/tmp/kernel-x"}, 3, "ipc:///tmp/kernel-x-3"},
	}
	for _, tt := range tests {
		if got := tt.info.Endpoint(tt.port); got != tt.want {
			t.Errorf("%+v.Endpoint(%d) = %q, want %q", tt.info, tt.port, got, tt.want)
		}
	}
}

func TestChannelString(t *testing.T) {
	want := map[Channel]string{Shell: "shell", Control: "control", Stdin: "stdin", IOPub: "iopub", Heartbeat: "heartbeat", 9: "channel(9)"}
	for ch, s := range want {
		if ch.String() != s {
			t.Errorf("Channel(%d).String() = %q, want %q", int(ch), ch.String(), s)
		}
	}
}
