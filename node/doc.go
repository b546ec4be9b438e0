// Package node is the membership protocol: joins through the leader,
// two-phase view changes (REQ, OK from every voter, NEWVIEW), removal of
// failed members, and takeover by the lowest member left when the leader
// fails (NEWLEADER, every member's pending operation, then the change that
// finishes it).
//
// The protocol is a pure state machine. Node.Step takes one Input and returns
// an Output: messages to send, views installed, what the failure detector
// should watch, the assignment's lines to print and, at most once, an Exit.
// Nothing inside reads a clock, touches a socket or starts a goroutine: time
// arrives as Tick inputs, silences as Suspect inputs from the detector,
// refused connections as Refused inputs from the transport. Tests drive it
// directly, message by message (cluster_test.go), and the simulator drives
// many of them through schedules of faults (sim_*_test.go).
//
// Runner is the one goroutine that owns a Node. Its loop selects over the
// inbound event channel (decoded messages from wire, suspicions and view
// hints from the detector, refusals from wire), a tick timer, the -c crash
// timer and status queries, steps the node and carries out the Output; it
// has no rules of its own. It wakes for ticks only while Output.Ticks says
// the node needs them: an idle group costs no wake-ups.
//
// The code is split by role, as etcd raft's is: join.go (asking to be
// added), member.go (following), leader.go (running changes), takeover.go (a
// candidate's round), suspicion.go (checking the detector's suspicions),
// leave.go (a graceful leave), members.go (the record kept for each member,
// quorums), ballot.go (ballots and proposals), effects.go (sending,
// installing, printing), status.go (the read-only snapshot Runner.Status
// answers), node.go (inputs, outputs, Step).
//
// Four mechanisms keep views agreed and true:
//
//   - Ballots. Leadership is ordered by a ballot (epoch, leader id), like
//     raft's term (ballot.go). Every leader's message carries its ballot; a
//     member follows the highest ballot it acknowledged and refuses, and
//     tells, anyone older. A view change commits only with the OK of every
//     voter (every other member that answers), and the voters with the leader
//     must hold a quorum of the view: a majority, or exactly half including
//     its lowest member. A takeover is Paxos's first phase over views: the
//     candidate collects a quorum of promises, each carrying the proposal
//     that member accepted; the highest-ballot one is proposed again
//     unchanged unless one of its voters' promises shows it never
//     committed. So a view id never names two views, whatever fails,
//     stalls or is cut off, and a side without a quorum changes nothing.
//     Every heartbeat carries its sender's ballot too, so a member that
//     still follows a peer that no longer leads learns of the newer ballot
//     within a heartbeat, however the messages that carried it were lost.
//   - Verified suspicion. A detector timeout is only a suspicion. The node
//     probes the suspect over TCP; its event loop answers (suspicion.go).
//     Only a refused connection or an unanswered probe is a failure: then the
//     node prints "unreachable" and acts. A suspect heard from again, by a
//     heartbeat or an answered probe, is no longer suspected, and a failure
//     this node found itself is withdrawn the same way unless a change
//     already removes the peer. A member that has not seen its leader fail
//     checks it before it promises a peer taking over; a leader that is
//     alive answers a challenger with a higher ballot of its own.
//   - Incarnations. A view records each member's incarnation (its
//     process's start time), and a JOIN and a probe's answer carry the
//     sender's. A restarted peer, which forgot what its old process promised
//     and accepted, never takes that process's place: its JOIN shows the
//     members that the old process is gone, for certain and at once, and it
//     is removed before the new one is added.
//   - Catching up. Every NEWVIEW carries an installed view, which is
//     committed: a peer installs the next view from whoever sends it, and a
//     newer view without it means it was removed. A peer that is behind (its
//     heartbeats carry an older view id, it answers with an older view, it
//     asks to join though it is a member) is sent the views it missed, in
//     order; a view more than one ahead waits until the ones between have
//     been asked for. A removed peer shows the view that removed it to
//     whoever is behind it, and a candidate that cannot reach a quorum of its
//     view asks every host, in case the group went on without it.
//
// docs/report.md and docs/simulation.md explain the rules with the schedules
// that required them.
package node
