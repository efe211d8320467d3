// Package messaging implements the Jupyter messaging protocol (wire
// protocol 5.5) over ZeroMQ for the wasmpy kernel.
//
// It owns exactly three things:
//
//   - the connection file (ConnectionInfo: parsing, validation, endpoints);
//   - the wire format (Message, Header, Codec: framing around the
//     "<IDS|MSG>" delimiter, HMAC signing and verification, replay
//     detection, size limits);
//   - the sockets (Conn: shell, control and stdin ROUTERs, the iopub PUB and
//     the heartbeat echo), built on the pure-Go github.com/go-zeromq/zmq4.
//
// It must not implement kernel behaviour: no busy/idle status, no execution
// counts, no request dispatch, no knowledge of message contents beyond the
// header fields needed to frame and log a message. Those live in package
// kernel, which consumes Conn.Shell, Conn.Control and Conn.Stdin and answers
// with Conn.Send and Conn.Publish.
//
// Invalid input never reaches the consumer: messages with a bad or missing
// signature, a replayed signature, malformed JSON, a missing msg_id or
// msg_type, too few frames or too many bytes are logged at Warn level and
// dropped, and the Conn keeps serving. Frames larger than the configured
// limit are cut off while they are still being read from the TCP or Unix
// socket (see WithMaxMessageSize), so a hostile peer cannot make the process
// allocate them.
//
// The same transport reads a peer's bytes through a buffer and writes each
// ZMTP message in one write (batch.go): zmq4 reads and writes frame by
// frame, which made some 14 system calls of each Jupyter message.
//
// For JEP 65 (protocol 5.5's iopub_welcome), Conn.Subscriptions reports
// each iopub subscription once zmq4 has it in effect: zmq4's PUB consumes
// subscriptions itself, so the transport that reads the peers' bytes (see
// guard.go) recognises them and reports them when zmq4 next reads. The
// kernel greets them; as iopub is a PUB socket, every subscriber to the
// topic sees the greeting, as with ipykernel's XPUB.
package messaging
