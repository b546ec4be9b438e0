// Package seal authenticates and encrypts the peers' traffic with a shared
// cluster key: AES-256-GCM from the standard library, a random 96-bit nonce
// per message and the sender's peer id bound as associated data.
//
// A sealed message is
//
//	sender id (4 bytes, big-endian) | nonce (12 bytes) | ciphertext | tag (16 bytes)
//
// and the associated data is the sender id followed by the context the
// caller gives (wire binds the connection's challenge and the frame's number,
// detector the receiver's id). Open succeeds only with the same key, the same
// sender id and the same context, so a message cannot be altered, attributed
// to another peer, or replayed where its context differs.
//
// wire and detector call Seal and Open from their own goroutines; a Key is
// safe for concurrent use. cmd/peer loads the key with LoadKey (-key FILE)
// and writes a new one with WriteKeyFile (-genkey FILE).
package seal

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"os"

	"peer/codec"
)

const (
	// KeySize is the size of a cluster key: AES-256.
	KeySize = 32
	// NonceSize is the size of the random nonce in every sealed message.
	NonceSize = 12
	// TagSize is the size of the GCM authentication tag.
	TagSize = 16
	// SenderSize is the size of the sender id that starts a sealed message.
	SenderSize = 4
	// Overhead is how much longer a sealed message is than its plaintext.
	Overhead = SenderSize + NonceSize + TagSize
)

var (
	// ErrKey is returned for a key file or key bytes that are not a key.
	ErrKey = errors.New("seal: bad cluster key")
	// ErrOpen is returned when a message does not authenticate: a different
	// key, a different sender or context, a modified or truncated message.
	ErrOpen = errors.New("seal: message authentication failed")
)

// Key is a cluster key. It is safe for concurrent use.
type Key struct {
	aead cipher.AEAD
}

// NewKey returns the key made of raw, which must be KeySize bytes.
func NewKey(raw []byte) (*Key, error) {
	if len(raw) != KeySize {
		return nil, fmt.Errorf("%w: %d bytes, want %d", ErrKey, len(raw), KeySize)
	}
	block, err := aes.NewCipher(raw)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrKey, err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrKey, err)
	}
	return &Key{aead: aead}, nil
}

// ParseKey reads a key file's content: exactly KeySize raw bytes, or
// 2*KeySize hexadecimal digits with optional surrounding white space (a
// trailing newline, say).
func ParseKey(b []byte) (*Key, error) {
	if len(b) == KeySize {
		if isHex(b) {
			return nil, fmt.Errorf("%w: %d hex digits make only %d bytes; want %d hex digits or %d raw bytes",
				ErrKey, len(b), len(b)/2, 2*KeySize, KeySize)
		}
		return NewKey(b)
	}
	t := bytes.TrimSpace(b)
	if len(t) != 2*KeySize || !isHex(t) {
		return nil, fmt.Errorf("%w: want %d hex digits or %d raw bytes, got %d bytes", ErrKey, 2*KeySize, KeySize, len(b))
	}
	raw := make([]byte, KeySize)
	if _, err := hex.Decode(raw, t); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrKey, err)
	}
	return NewKey(raw)
}

func isHex(b []byte) bool {
	for _, c := range b {
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F') {
			return false
		}
	}
	return true
}

// LoadKey reads a key file (see ParseKey).
func LoadKey(path string) (*Key, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrKey, err)
	}
	k, err := ParseKey(b)
	if err != nil {
		return nil, fmt.Errorf("key file %s: %w", path, err)
	}
	return k, nil
}

// GenerateHex returns a new random key as 2*KeySize hex digits.
func GenerateHex() string {
	raw := make([]byte, KeySize)
	rand.Read(raw) // never fails (crypto/rand panics if the system cannot supply randomness)
	return hex.EncodeToString(raw)
}

// WriteKeyFile writes a new random key to path as hex digits and a newline,
// readable by its owner only. It never overwrites an existing file.
func WriteKeyFile(path string) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("seal: write key: %w", err)
	}
	_, err = f.WriteString(GenerateHex() + "\n")
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(path)
		return fmt.Errorf("seal: write key: %w", err)
	}
	return nil
}

// Seal appends to dst the sealed form of plaintext from sender, with ctx as
// further associated data, and returns the extended slice. dst and plaintext
// must not overlap.
func (k *Key) Seal(dst []byte, sender codec.PeerID, ctx, plaintext []byte) []byte {
	start := len(dst)
	dst = binary.BigEndian.AppendUint32(dst, uint32(sender))
	dst = append(dst, make([]byte, NonceSize)...)
	nonce := dst[len(dst)-NonceSize:]
	rand.Read(nonce)
	var adBuf [64]byte
	ad := append(append(adBuf[:0], dst[start:start+SenderSize]...), ctx...)
	return k.aead.Seal(dst, nonce, plaintext, ad)
}

// Sender is the sender id a sealed message claims, before it is opened; ok
// is false when b is too short to be sealed.
func Sender(b []byte) (p codec.PeerID, ok bool) {
	if len(b) < Overhead {
		return 0, false
	}
	return codec.PeerID(binary.BigEndian.Uint32(b)), true
}

// Open authenticates and decrypts a sealed message, appending the plaintext
// to dst. ctx must be what the sender passed to Seal. On failure the error
// wraps ErrOpen and nothing of the message may be trusted.
func (k *Key) Open(dst, sealed, ctx []byte) (codec.PeerID, []byte, error) {
	sender, ok := Sender(sealed)
	if !ok {
		return 0, nil, fmt.Errorf("%w: %d bytes, shorter than the %d of a sealed message", ErrOpen, len(sealed), Overhead)
	}
	var adBuf [64]byte
	ad := append(append(adBuf[:0], sealed[:SenderSize]...), ctx...)
	nonce := sealed[SenderSize : SenderSize+NonceSize]
	out, err := k.aead.Open(dst, nonce, sealed[SenderSize+NonceSize:], ad)
	if err != nil {
		return 0, nil, ErrOpen
	}
	return sender, out, nil
}
