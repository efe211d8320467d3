package messaging

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
)

// ConnectionInfo is the content of a Jupyter connection file.
type ConnectionInfo struct {
	Transport       string `json:"transport"`
	IP              string `json:"ip"`
	ShellPort       int    `json:"shell_port"`
	ControlPort     int    `json:"control_port"`
	StdinPort       int    `json:"stdin_port"`
	IOPubPort       int    `json:"iopub_port"`
	HBPort          int    `json:"hb_port"`
	Key             string `json:"key"`
	SignatureScheme string `json:"signature_scheme"`
	KernelName      string `json:"kernel_name,omitempty"`
}

// DefaultSignatureScheme is used when a connection file has no
// signature_scheme, as jupyter_client does.
const DefaultSignatureScheme = "hmac-sha256"

// ReadConnectionFile reads and validates the connection file at path.
func ReadConnectionFile(path string) (ConnectionInfo, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return ConnectionInfo{}, fmt.Errorf("read connection file: %w", err)
	}
	info, err := ParseConnectionInfo(data)
	if err != nil {
		return ConnectionInfo{}, fmt.Errorf("connection file %s: %w", path, err)
	}
	return info, nil
}

// ParseConnectionInfo parses and validates a connection file's content.
// A missing transport defaults to "tcp" and a missing signature_scheme to
// DefaultSignatureScheme; "key" must be present, and an empty key means
// messages are neither signed nor verified. Unknown fields are ignored.
func ParseConnectionInfo(data []byte) (ConnectionInfo, error) {
	// Pointers tell a missing field from a zero one.
	var raw struct {
		Transport       *string `json:"transport"`
		IP              *string `json:"ip"`
		ShellPort       *int    `json:"shell_port"`
		ControlPort     *int    `json:"control_port"`
		StdinPort       *int    `json:"stdin_port"`
		IOPubPort       *int    `json:"iopub_port"`
		HBPort          *int    `json:"hb_port"`
		Key             *string `json:"key"`
		SignatureScheme *string `json:"signature_scheme"`
		KernelName      *string `json:"kernel_name"`
	}
	trimmed := bytes.TrimSpace(data)
	if len(trimmed) == 0 || trimmed[0] != '{' {
		return ConnectionInfo{}, errors.New("not a JSON object")
	}
	if err := json.Unmarshal(data, &raw); err != nil {
		return ConnectionInfo{}, fmt.Errorf("invalid JSON: %w", err)
	}
	info := ConnectionInfo{Transport: "tcp", SignatureScheme: DefaultSignatureScheme}
	str := func(dst *string, src *string) {
		if src != nil {
			*dst = *src
		}
	}
	str(&info.Transport, raw.Transport)
	str(&info.SignatureScheme, raw.SignatureScheme)
	str(&info.KernelName, raw.KernelName)
	if raw.IP == nil {
		return ConnectionInfo{}, errors.New("ip: missing")
	}
	info.IP = *raw.IP
	if raw.Key == nil {
		return ConnectionInfo{}, errors.New(`key: missing (use "" to disable signing)`)
	}
	info.Key = *raw.Key
	ports := []struct {
		name string
		src  *int
		dst  *int
	}{
		{"shell_port", raw.ShellPort, &info.ShellPort},
		{"control_port", raw.ControlPort, &info.ControlPort},
		{"stdin_port", raw.StdinPort, &info.StdinPort},
		{"iopub_port", raw.IOPubPort, &info.IOPubPort},
		{"hb_port", raw.HBPort, &info.HBPort},
	}
	for _, p := range ports {
		if p.src == nil {
			return ConnectionInfo{}, fmt.Errorf("%s: missing", p.name)
		}
		*p.dst = *p.src
	}
	if err := info.Validate(); err != nil {
		return ConnectionInfo{}, err
	}
	return info, nil
}

// Validate checks the transport, ip, ports and signature scheme. Every port
// must be in 1..65535 and the five ports must be distinct.
func (c ConnectionInfo) Validate() error { return c.validate(false) }

// validate is Validate; allowZero lets a port be 0, meaning "pick one"
// (Listen only).
func (c ConnectionInfo) validate(allowZero bool) error {
	switch c.Transport {
	case "tcp", "ipc":
	default:
		return fmt.Errorf("transport: %q is not tcp or ipc", c.Transport)
	}
	if c.IP == "" {
		return errors.New("ip: empty")
	}
	if c.Transport == "tcp" && strings.ContainsAny(c.IP, " \t\r\n") {
		return fmt.Errorf("ip: %q contains white space", c.IP)
	}
	seen := make(map[int]string, 5)
	for _, p := range c.ports() {
		if p.port == 0 && allowZero {
			continue
		}
		if p.port < 1 || p.port > 65535 {
			return fmt.Errorf("%s: %d is not in 1..65535", p.name, p.port)
		}
		if other, dup := seen[p.port]; dup {
			return fmt.Errorf("%s: %d is also %s", p.name, p.port, other)
		}
		seen[p.port] = p.name
	}
	if _, err := newHash(c.SignatureScheme); err != nil {
		return fmt.Errorf("signature_scheme: %w", err)
	}
	return nil
}

type namedPort struct {
	name string
	ch   Channel
	port int
}

func (c ConnectionInfo) ports() []namedPort {
	return []namedPort{
		{"shell_port", Shell, c.ShellPort},
		{"control_port", Control, c.ControlPort},
		{"stdin_port", Stdin, c.StdinPort},
		{"iopub_port", IOPub, c.IOPubPort},
		{"hb_port", Heartbeat, c.HBPort},
	}
}

// Port returns the port of channel ch.
func (c ConnectionInfo) Port(ch Channel) int {
	for _, p := range c.ports() {
		if p.ch == ch {
			return p.port
		}
	}
	return 0
}

func (c *ConnectionInfo) setPort(ch Channel, port int) {
	switch ch {
	case Shell:
		c.ShellPort = port
	case Control:
		c.ControlPort = port
	case Stdin:
		c.StdinPort = port
	case IOPub:
		c.IOPubPort = port
	case Heartbeat:
		c.HBPort = port
	}
}

// Endpoint returns the ZeroMQ endpoint for port: "tcp://ip:port" (IPv6
// addresses in brackets) or, for ipc, "ipc://ip-port" as jupyter_client
// names its socket files.
func (c ConnectionInfo) Endpoint(port int) string {
	if c.Transport == "ipc" {
		return "ipc://" + c.ipcPath(port)
	}
	return "tcp://" + net.JoinHostPort(c.IP, strconv.Itoa(port))
}

func (c ConnectionInfo) ipcPath(port int) string {
	return c.IP + "-" + strconv.Itoa(port)
}
