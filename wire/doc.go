// Package wire carries codec messages between peers over persistent TCP
// connections.
//
// A frame is a 4-byte big-endian length followed by that many bytes of
// payload; the payload is one codec-encoded message. WriteFrame and ReadFrame
// are the paired encoder and decoder; ReadFrame checks the length against a
// limit before it allocates.
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
// Inbound connections each get a reader goroutine that only translates and
// forwards: frame, codec.Unmarshal, Config.Deliver. Deliver is therefore
// called from many goroutines at once, in order for each connection; it
// usually pushes the message onto the node's event channel. A connection
// that sends an oversized frame or a message that does not decode is closed.
//
// Close stops every goroutine the Transport started and waits for them, so a
// Deliver that blocks must give up once the caller is shutting down.
package wire
