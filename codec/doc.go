// Package codec defines the messages peers exchange and their encoding.
//
// Every message is one byte of Type followed by a msgpack body (a fixed-order
// array, so field names never travel). Message and operation types are small
// integer constants; their numbers are part of the protocol and the lists are
// append-only.
//
// Marshal and Unmarshal are pure functions, safe to call from any goroutine:
// the wire package calls them from its reader and writer goroutines, the
// detector for UDP heartbeats. Unmarshal never panics: an unknown type, a
// malformed body or a value outside its range is an error wrapping
// ErrMalformed or ErrUnknownType.
package codec
