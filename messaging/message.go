package messaging

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
)

// ProtocolVersion is the messaging protocol version put in every header.
const ProtocolVersion = "5.5"

// Delimiter separates routing identities from the message proper.
const Delimiter = "<IDS|MSG>"

// DefaultMaxMessageSize bounds the total size of a received message (the
// sum of its frame lengths) unless configured otherwise.
const DefaultMaxMessageSize = 256 << 20

// MaxFrames bounds the number of frames in a received message.
const MaxFrames = 1 << 16

// Errors returned (wrapped with details) by Codec and Conn; test with errors.Is.
var (
	ErrMalformed    = errors.New("malformed message")
	ErrBadSignature = errors.New("bad signature")
	ErrReplay       = errors.New("replayed signature")
	ErrTooLarge     = errors.New("message too large")
	ErrClosed       = errors.New("connection closed")
)

// Header is a message header.
type Header struct {
	MsgID    string `json:"msg_id"`
	Session  string `json:"session"`
	Username string `json:"username"`
	Date     string `json:"date"`
	MsgType  string `json:"msg_type"`
	Version  string `json:"version"`
}

// Message is a decoded Jupyter message. ParentHeader, Metadata and Content
// are raw JSON objects; nil or empty means {}.
type Message struct {
	Identities   [][]byte
	Header       Header
	ParentHeader json.RawMessage
	Metadata     json.RawMessage
	Content      json.RawMessage
	Buffers      [][]byte
}

// NewMessage builds a message of type msgType in session. Its parent header
// is parent's header (or {} when parent is nil) and its identities are
// copied from parent, so a reply on a ROUTER socket reaches the requester.
// content is marshalled to JSON (a json.RawMessage passes through; nil
// gives {}) and must be an object. The username is "kernel"; change
// Header.Username to use another.
func NewMessage(msgType string, parent *Message, session string, content any) (*Message, error) {
	c, err := marshalObject(content)
	if err != nil {
		return nil, fmt.Errorf("new %s message: content: %w", msgType, err)
	}
	m := &Message{
		Header: Header{
			MsgID:    uuid.NewString(),
			Session:  session,
			Username: "kernel",
			Date:     time.Now().UTC().Format("2006-01-02T15:04:05.000000Z07:00"),
			MsgType:  msgType,
			Version:  ProtocolVersion,
		},
		ParentHeader: json.RawMessage("{}"),
		Metadata:     json.RawMessage("{}"),
		Content:      c,
	}
	if parent != nil {
		ph, err := json.Marshal(parent.Header)
		if err != nil {
			return nil, fmt.Errorf("new %s message: parent header: %w", msgType, err)
		}
		m.ParentHeader = ph
		for _, id := range parent.Identities {
			m.Identities = append(m.Identities, bytes.Clone(id))
		}
	}
	return m, nil
}

func marshalObject(v any) (json.RawMessage, error) {
	if v == nil {
		return json.RawMessage("{}"), nil
	}
	b, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	if len(b) == 0 || b[0] != '{' {
		return nil, fmt.Errorf("%.40s is not a JSON object", b)
	}
	return b, nil
}

// Codec encodes and decodes signed messages. Decode remembers the last
// DefaultHistorySize signatures and rejects repeats as replays. A Codec is
// safe for concurrent use.
type Codec struct {
	signer  *signer
	maxSize int64
	history *digestHistory // nil without a key
}

// NewCodec returns a Codec signing with key under scheme ("" means
// DefaultSignatureScheme). An empty key disables signing, verification and
// replay detection, as in jupyter_client. maxSize <= 0 means
// DefaultMaxMessageSize.
func NewCodec(scheme string, key []byte, maxSize int64) (*Codec, error) {
	if scheme == "" {
		scheme = DefaultSignatureScheme
	}
	s, err := newSigner(scheme, key)
	if err != nil {
		return nil, fmt.Errorf("new codec: %w", err)
	}
	if maxSize <= 0 {
		maxSize = DefaultMaxMessageSize
	}
	c := &Codec{signer: s, maxSize: maxSize}
	if s.enabled() {
		c.history = newDigestHistory(DefaultHistorySize)
	}
	return c, nil
}

// MaxSize returns the largest message Decode accepts, in bytes.
func (c *Codec) MaxSize() int64 { return c.maxSize }

// Encode returns the wire frames of m: identities, delimiter, signature,
// header, parent header, metadata, content and buffers.
func (c *Codec) Encode(m *Message) ([][]byte, error) {
	header, err := json.Marshal(m.Header)
	if err != nil {
		return nil, fmt.Errorf("encode header: %w", err)
	}
	parts := [3]json.RawMessage{m.ParentHeader, m.Metadata, m.Content}
	for i, name := range [3]string{"parent_header", "metadata", "content"} {
		if len(parts[i]) == 0 {
			parts[i] = json.RawMessage("{}")
		} else if !isObject(parts[i]) {
			return nil, fmt.Errorf("encode %s %s: %w: not a JSON object", m.Header.MsgType, name, ErrMalformed)
		}
	}
	frames := make([][]byte, 0, len(m.Identities)+6+len(m.Buffers))
	frames = append(frames, m.Identities...)
	frames = append(frames, []byte(Delimiter), c.signer.sign(header, parts[0], parts[1], parts[2]), header)
	frames = append(frames, parts[0], parts[1], parts[2])
	frames = append(frames, m.Buffers...)
	return frames, nil
}

// Decode parses, verifies and returns the message in frames. The returned
// message aliases frames.
func (c *Codec) Decode(frames [][]byte) (*Message, error) {
	if len(frames) > MaxFrames {
		return nil, fmt.Errorf("%w: %d frames (limit %d)", ErrTooLarge, len(frames), MaxFrames)
	}
	var size int64
	for _, f := range frames {
		size += int64(len(f))
	}
	if size > c.maxSize {
		return nil, fmt.Errorf("%w: %d bytes (limit %d)", ErrTooLarge, size, c.maxSize)
	}
	delim := -1
	for i, f := range frames {
		if string(f) == Delimiter {
			delim = i
			break
		}
	}
	if delim < 0 {
		return nil, fmt.Errorf("%w: no %s delimiter", ErrMalformed, Delimiter)
	}
	rest := frames[delim+1:]
	if len(rest) < 5 {
		return nil, fmt.Errorf("%w: %d frames after delimiter, want at least 5", ErrMalformed, len(rest))
	}
	sig, header, parent, metadata, content := rest[0], rest[1], rest[2], rest[3], rest[4]
	if !c.signer.verify(sig, header, parent, metadata, content) {
		return nil, ErrBadSignature
	}
	if c.history != nil && !c.history.add(sig) {
		return nil, ErrReplay
	}
	h, err := parseHeader(header)
	if err != nil {
		return nil, err
	}
	for _, p := range []struct {
		name string
		b    []byte
	}{{"parent_header", parent}, {"metadata", metadata}, {"content", content}} {
		if !isObject(p.b) {
			return nil, fmt.Errorf("%w: %s is not a JSON object", ErrMalformed, p.name)
		}
	}
	m := &Message{
		Header:       h,
		ParentHeader: parent,
		Metadata:     metadata,
		Content:      content,
	}
	if delim > 0 {
		m.Identities = frames[:delim]
	}
	if len(rest) > 5 {
		m.Buffers = rest[5:]
	}
	return m, nil
}

// parseHeader requires a JSON object with non-empty string msg_id and
// msg_type; the other known fields, when present, must be strings. Keys
// match exactly (encoding/json alone would match them case-insensitively).
func parseHeader(b []byte) (Header, error) {
	var fields map[string]json.RawMessage
	if !isObject(b) || json.Unmarshal(b, &fields) != nil {
		return Header{}, fmt.Errorf("%w: header is not a JSON object", ErrMalformed)
	}
	var h Header
	for _, f := range []struct {
		name     string
		dst      *string
		required bool
	}{
		{"msg_id", &h.MsgID, true},
		{"msg_type", &h.MsgType, true},
		{"session", &h.Session, false},
		{"username", &h.Username, false},
		{"date", &h.Date, false},
		{"version", &h.Version, false},
	} {
		raw, ok := fields[f.name]
		if !ok || string(raw) == "null" {
			if f.required {
				return Header{}, fmt.Errorf("%w: header has no %s", ErrMalformed, f.name)
			}
			continue
		}
		if err := json.Unmarshal(raw, f.dst); err != nil {
			return Header{}, fmt.Errorf("%w: header %s is not a string", ErrMalformed, f.name)
		}
		if f.required && *f.dst == "" {
			return Header{}, fmt.Errorf("%w: header %s is empty", ErrMalformed, f.name)
		}
	}
	return h, nil
}

// isObject reports whether b is valid JSON whose value is an object.
func isObject(b []byte) bool {
	t := bytes.TrimLeft(b, " \t\r\n")
	return len(t) > 0 && t[0] == '{' && json.Valid(b)
}
