// Package node is the membership protocol: joins through the leader,
// two-phase view changes (REQ, OK from every alive member, NEWVIEW), deletes
// of failed members, and takeover by the lowest surviving id when the leader
// fails (NEWLEADER, each member's pending operation, then the change that
// finishes it).
//
// The protocol is a pure state machine. Node.Step takes one Input and returns
// an Output: messages to send, views installed, the assignment's lines to print
// and, at most once, an Exit. Nothing inside reads a clock, touches a socket or
// starts a goroutine: time arrives as Tick inputs (retransmissions count ticks)
// and failures as Suspect inputs from the detector. Tests drive it directly
// (see cluster_test.go), message by message.
//
// Runner is the one goroutine that owns a Node. Its loop selects over the
// inbound event channel (decoded messages from wire, suspicions and view hints
// from the detector), a tick timer, the -c crash timer and status queries,
// steps the node and carries out the Output: SendMany on the wire transport (which
// never blocks), SetView on the detector (which never blocks), one write per
// stderr line, and on exit an optional flush of everything queued (-t). It
// wakes for ticks only while Node.NeedsTicks: an idle member or leader costs
// no wake-ups, and the ticks that passed reach it with its next input.
//
// The rules that keep views agreed:
//   - only the leader a member follows may change its view (REQ, NEWVIEW), and
//     only for the member's current view id; anything older is ignored;
//   - a member saves the operation on REQ and applies it only on NEWVIEW;
//   - a new leader collects every member's installed view and pending
//     operation before it acts: the most advanced view wins and is re-sent,
//     unchanged, to the members behind it; the pending operation of that view
//     is restarted, together with the removal of the failed leader;
//   - if every member that answered saved the same pending operation, the old
//     leader may already have committed it (and printed the view) before dying:
//     the new leader installs exactly that view under the old leader's name
//     (committable) and only then removes the old leader;
//   - a newer view that does not contain this peer means it was removed: it
//     exits (or joins again with Config.Rejoin). It is taken from the leader
//     this peer follows, or from a peer that could lead here: one whose lower
//     members have all failed in this peer's eyes (mayRemove). A peer that
//     was starved of CPU and took every other peer for dead cannot make the
//     healthy members, or their leader, leave.
//
// Two rules keep false suspicions from doing harm. A member that entered the
// view recently may not know yet that it should send heartbeats here: its
// first silence is watched once more before it is reported
// (Config.NewMemberGrace). And a peer reported unreachable that then leads
// this peer was alive after all: the report is forgotten and it is watched
// afresh (revive). docs/simulation.md lists the schedules that showed each
// rule was needed.
package node
