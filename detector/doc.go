// Package detector is the failure detector: it sends UDP heartbeats to the
// other peers of the hostsfile and reports a member of the current view that
// stays silent for the timeout (by default two heartbeat intervals). Only
// members are watched; the others hear the view id and ballot, so that a
// peer left behind in an older view learns of the newer one.
//
// Tracker is the pure part: one deadline per watched member, with time passed
// in, so it is tested with plain time.Time values. Detector owns the UDP
// socket and three goroutines:
//
//   - a reader, started by Listen, that decodes each datagram (anything but a
//     codec.Heartbeat is dropped with one debug line) and records the
//     heartbeat in Run's state itself, under a lock: a heartbeat costs one
//     wake-up of one goroutine, not a hand-off between two;
//   - Run, which the caller starts on its own goroutine: at every multiple of
//     Interval on the wall clock it marshals one heartbeat and writes it to
//     each other member, it arms a single timer at Tracker.NextDeadline so a
//     silence is reported as soon as the timeout passes, and it calls
//     Config.Suspect. Because every peer sends on the same wall-clock
//     boundaries, a round's heartbeats reach a peer in one burst, which its
//     reader takes in one wake-up;
//   - a resolver, started and waited for by Run, that calls Config.Addr so a
//     slow or failing DNS lookup never holds up heartbeats or timers.
//
// The node's event loop calls SetView after installing a view (or when it
// stops watching, with an empty member list), SetBallot when the ballot it
// follows changes, and Rewatch when a suspicion it checked ended. None of
// them blocks: each stores what it is given and pokes Run, which applies the
// latest: it watches members it adds from that moment, forgets members that
// left, sends a heartbeat round at once on a view that adds a member, puts
// the ballot in every later heartbeat, and watches the rewatched members
// afresh. Before the first SetView nothing is sent or watched.
//
// The detector never touches node state. It talks back only through
// Config.Suspect (once per silence of a watched member; a member is reported
// again only after Rewatch, or after it left the view and was added again),
// Config.Alive (a member it reported is heard again) and Config.Heard (a
// heartbeat carrying another view id or ballot, at most once per sender per
// Interval). Suspect is called from Run's goroutine, Alive and Heard from
// the reader's; all should only hand the event on: while Suspect blocks no
// heartbeat is sent, and while Alive or Heard blocks none is read.
//
// With Config.Key every heartbeat is sealed (package seal: AES-256-GCM) for
// its receiver: the datagram is 0xC5 followed by the sealed heartbeat, with
// the sender id and "peer/hb/1" | receiver id as associated data. The
// heartbeat inside carries the sender's view id, its ballot and Seq, which
// starts at the sender's wall clock (so it grows across restarts) and grows
// by one per round. A receiver takes only a heartbeat that opens with its
// key, whose From is the peer that sealed it, and whose Seq is above the
// last one it took from that sender: a heartbeat replayed from another
// receiver, or an old one, cannot keep a dead peer alive. A datagram with
// the wrong key, or without one, is dropped and logged (auth_failed, at
// most once per source per 10 s). Heartbeats from senders outside
// 1..Config.Peers are dropped.
//
// If Run itself could not run for longer than the timeout (the process was
// paused or starved), it cannot tell the members' silence from its own
// absence, so it gives every member a fresh grace period instead of
// suspecting them all; Stats.Stalls counts these.
//
// Close closes the socket, ends the reader and makes Run return.
package detector
