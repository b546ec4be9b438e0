// Package wire carries codec messages between peers over persistent TCP
// connections.
//
// A frame is a 4-byte big-endian length followed by that many bytes of
// payload; the payload is one codec-encoded message, or nothing (a
// keepalive). WriteFrame and ReadFrame are the paired encoder and decoder;
// ReadFrame checks the length against a limit before it allocates, and
// allocates a long body only as it arrives.
//
// A Transport owns one TCP listener and, for every destination it has sent
// to, one outbound connection with its own writer goroutine and bounded
// queue. The node's event loop is the only expected caller of Send, SendMany
// and Flush; Send and SendMany never block it: they marshal the message on
// the caller's goroutine and hand the bytes to the destination's queue, or
// drop them when that queue is full. The writer dials lazily, redials with
// exponential backoff after an error, drops the frame whose write failed (the
// protocol retransmits) and flushes its buffer whenever its queue runs empty.
//
// Every connection starts with a greeting from the listener: "PEER", a
// version, whether the listener has a cluster key and, if so, a random
// 16-byte challenge. The writer reads it before it writes (so it knows at
// once when one side has a key and the other has none, and says so in the
// log: event auth_refused), then sends a keepalive, and another whenever the
// connection has been quiet for Config.Keepalive.
//
// With Config.Key every payload is sealed (package seal: AES-256-GCM):
//
//	sender id (4) | nonce (12) | ciphertext | tag (16)
//
// with the associated data "peer/wire/1" | challenge | frame number on
// this connection (8, from 1), after the sender id. A frame therefore opens
// only with the cluster key, only from the sender it names, only on the
// connection it was sealed for and only in its place there: it can be
// neither forged nor replayed. A frame that does not open is answered with a
// refusal control frame ("PEER", 2, reason) and the connection is closed;
// the listener logs auth_failed, the writer auth_refused, each at most once
// per 10 s per source.
//
// Inbound connections each get one reader goroutine that only translates
// and forwards: frame, open, codec.Unmarshal, Config.Deliver. Deliver is
// therefore called from many goroutines at once, in order for each
// connection; it usually pushes the message onto the node's event channel.
// The reader enforces the limits on untrusted input:
//
//   - a connection over MaxConns in all or MaxConnsPerSource from one IP
//     address is closed as soon as it is accepted;
//   - a new connection must deliver a good frame (a keepalive or a message;
//     with a key, one that opens) within HandshakeTimeout, and after that a
//     frame at least every IdleTimeout; a frame's body must follow its header
//     within FrameTimeout;
//   - a frame over MaxFrame, a payload that does not decode, or (with a key)
//     a frame that does not open closes the connection;
//   - a connection carries one sender: the first message (with a key, the
//     first frame) names it, and a later message from another sender, or
//     from a sender outside 1..Peers, is dropped with one debug line.
//
// Close stops every goroutine the Transport started and waits for them, so a
// Deliver that blocks must give up once the caller is shutting down.
package wire
