package codec

import (
	"encoding/binary"
	"fmt"
)

// DecodeHeartbeat decodes a datagram that holds one Heartbeat into hb,
// without allocating: the detector's reader calls it for every datagram it
// receives. It accepts exactly what Unmarshal accepts for a heartbeat (the
// fuzz test FuzzDecodeHeartbeat checks both agree), and fails with an error
// wrapping ErrMalformed or ErrUnknownType otherwise.
func DecodeHeartbeat(b []byte, hb *Heartbeat) error {
	if len(b) == 0 {
		return fmt.Errorf("%w: empty", ErrMalformed)
	}
	if Type(b[0]) != TypeHeartbeat {
		if New(Type(b[0])) == nil {
			return fmt.Errorf("%w: %d", ErrUnknownType, b[0])
		}
		return fmt.Errorf("%w: %v, want a heartbeat", ErrMalformed, Type(b[0]))
	}
	rest := b[1:]
	switch { // an array of the five fields: fixarray, array16 or array32
	case len(rest) >= 1 && rest[0] == 0x95:
		rest = rest[1:]
	case len(rest) >= 3 && rest[0] == 0xdc && binary.BigEndian.Uint16(rest[1:]) == 5:
		rest = rest[3:]
	case len(rest) >= 5 && rest[0] == 0xdd && binary.BigEndian.Uint32(rest[1:]) == 5:
		rest = rest[5:]
	default:
		return fmt.Errorf("%w: HEARTBEAT: not an array of 5 fields", ErrMalformed)
	}
	var f [5]uint64
	for i := range f {
		var err error
		if f[i], rest, err = uintField(rest); err != nil {
			return fmt.Errorf("%w: HEARTBEAT: field %d: %v", ErrMalformed, i, err)
		}
	}
	switch {
	case len(rest) != 0:
		return fmt.Errorf("%w: HEARTBEAT: %d trailing bytes", ErrMalformed, len(rest))
	case f[0]>>32 != 0:
		return fmt.Errorf("%w: HEARTBEAT: From: %d does not fit in 32 bits", ErrMalformed, f[0])
	case f[4]>>32 != 0:
		return fmt.Errorf("%w: HEARTBEAT: EpochLeader: %d does not fit in 32 bits", ErrMalformed, f[4])
	case f[0] == 0:
		return fmt.Errorf("%w: HEARTBEAT: from is 0", ErrMalformed)
	}
	*hb = Heartbeat{From: PeerID(f[0]), ViewID: ViewID(f[1]), Seq: f[2], Epoch: f[3], EpochLeader: PeerID(f[4])}
	return nil
}

// uintField reads one non-negative msgpack integer, in any of the encodings
// decodeUint accepts.
func uintField(b []byte) (uint64, []byte, error) {
	if len(b) == 0 {
		return 0, nil, fmt.Errorf("EOF")
	}
	c := b[0]
	size := 0
	switch c {
	case 0xcc, 0xd0: // uint8, int8
		size = 1
	case 0xcd, 0xd1:
		size = 2
	case 0xce, 0xd2:
		size = 4
	case 0xcf, 0xd3:
		size = 8
	}
	switch {
	case c <= 0x7f: // positive fixint
		return uint64(c), b[1:], nil
	case c >= 0xe0: // negative fixint
		return 0, nil, fmt.Errorf("negative %d", int8(c))
	case size == 0:
		return 0, nil, fmt.Errorf("code %#x, want an integer", c)
	case len(b) < 1+size:
		return 0, nil, fmt.Errorf("EOF")
	}
	var x uint64
	switch size {
	case 1:
		x = uint64(b[1])
	case 2:
		x = uint64(binary.BigEndian.Uint16(b[1:]))
	case 4:
		x = uint64(binary.BigEndian.Uint32(b[1:]))
	case 8:
		x = binary.BigEndian.Uint64(b[1:])
	}
	if c >= 0xd0 && x>>(8*size-1) != 0 { // a signed encoding of a negative number
		return 0, nil, fmt.Errorf("negative")
	}
	return x, b[1+size:], nil
}
