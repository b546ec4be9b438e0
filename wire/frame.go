package wire

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
)

// DefaultMaxFrame is the default limit on a frame's payload, in bytes. The
// largest message the codec accepts (a PENDING_REPLY with three lists of
// codec.MaxMembers ids and two of incarnations) is about 34 KiB, sealed 32
// bytes more.
const DefaultMaxFrame = 64 << 10

// growStep is how much of a frame's body ReadFrame allocates before any of
// it has arrived; a longer body grows the buffer as it comes, so a length
// that is claimed but never sent costs little memory.
const growStep = 4 << 10

// headerLen is the size of the big-endian length prefix.
const headerLen = 4

// ErrFrameTooLarge is returned when a frame's length exceeds the limit.
var ErrFrameTooLarge = errors.New("wire: frame too large")

// WriteFrame writes payload as one frame: its length as 4 big-endian bytes,
// then the payload itself.
func WriteFrame(w io.Writer, payload []byte) error {
	if uint64(len(payload)) > math.MaxUint32 {
		return fmt.Errorf("%w: %d bytes", ErrFrameTooLarge, len(payload))
	}
	if bw, ok := w.(*bufio.Writer); ok {
		return writeFrameBuffered(bw, payload)
	}
	var hdr [headerLen]byte
	binary.BigEndian.PutUint32(hdr[:], uint32(len(payload)))
	if _, err := w.Write(hdr[:]); err != nil {
		return fmt.Errorf("wire: write frame header: %w", err)
	}
	if _, err := w.Write(payload); err != nil {
		return fmt.Errorf("wire: write frame body: %w", err)
	}
	return nil
}

// writeFrameBuffered writes the header through the buffer's free space, so a
// frame costs no allocation.
func writeFrameBuffered(bw *bufio.Writer, payload []byte) error {
	if bw.Available() < headerLen {
		if err := bw.Flush(); err != nil {
			return fmt.Errorf("wire: write frame header: %w", err)
		}
	}
	hdr := binary.BigEndian.AppendUint32(bw.AvailableBuffer(), uint32(len(payload)))
	if _, err := bw.Write(hdr); err != nil {
		return fmt.Errorf("wire: write frame header: %w", err)
	}
	if _, err := bw.Write(payload); err != nil {
		return fmt.Errorf("wire: write frame body: %w", err)
	}
	return nil
}

// ReadFrame reads one frame and returns its payload. It returns io.EOF only
// when r ends cleanly between frames, io.ErrUnexpectedEOF when r ends inside a
// frame, and an error wrapping ErrFrameTooLarge, before reading or allocating
// the body, when the length exceeds max (max <= 0 means DefaultMaxFrame).
//
// The payload is read into buf when buf is large enough (buf may be nil), so
// the result may alias buf.
func ReadFrame(r io.Reader, max int, buf []byte) ([]byte, error) {
	n, err := readHeader(r, max, buf)
	if err != nil {
		return nil, err
	}
	return readBody(r, n, buf)
}

// readHeader reads a frame's length and checks it against max (max <= 0
// means DefaultMaxFrame). buf, if large enough, holds the header bytes.
func readHeader(r io.Reader, max int, buf []byte) (uint32, error) {
	if max <= 0 {
		max = DefaultMaxFrame
	}
	var hdrBuf [headerLen]byte
	hdr := hdrBuf[:]
	if cap(buf) >= headerLen {
		hdr = buf[:headerLen]
	}
	if _, err := io.ReadFull(r, hdr); err != nil {
		return 0, readErr("header", err)
	}
	n := binary.BigEndian.Uint32(hdr)
	if uint64(n) > uint64(max) {
		return 0, fmt.Errorf("%w: %d bytes, limit %d", ErrFrameTooLarge, n, max)
	}
	return n, nil
}

// readBody reads a body of n bytes, into buf when it is large enough. A body
// longer than buf and than growStep gets a buffer that grows as it arrives.
func readBody(r io.Reader, n uint32, buf []byte) ([]byte, error) {
	if uint64(cap(buf)) >= uint64(n) {
		buf = buf[:n]
		if _, err := io.ReadFull(r, buf); err != nil {
			return nil, bodyErr(err)
		}
		return buf, nil
	}
	size := int(n)
	buf = make([]byte, 0, min(size, growStep))
	for len(buf) < size {
		if len(buf) == cap(buf) {
			buf = append(buf, make([]byte, min(size-len(buf), cap(buf)))...)[:len(buf)]
		}
		end := min(size, cap(buf))
		got, err := io.ReadFull(r, buf[len(buf):end])
		buf = buf[:len(buf)+got]
		if err != nil {
			return nil, bodyErr(err)
		}
	}
	return buf, nil
}

func bodyErr(err error) error {
	if err == io.EOF {
		err = io.ErrUnexpectedEOF
	}
	return readErr("body", err)
}

// readErr passes io.EOF and io.ErrUnexpectedEOF through unchanged, so callers
// can compare them directly, and wraps anything else with context.
func readErr(part string, err error) error {
	if err == io.EOF || err == io.ErrUnexpectedEOF {
		return err
	}
	return fmt.Errorf("wire: read frame %s: %w", part, err)
}
