//go:build !peertest

package detector

// dropInbound reports whether the reader drops a datagram as if the network
// had lost it. Only a binary built with -tags peertest loses any (see
// loss_peertest.go); this one never does.
func dropInbound() bool { return false }
