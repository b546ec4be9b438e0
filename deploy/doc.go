// Package deploy runs the peer the way the course grades it: image prj3, the
// compose files docker-compose-testcase-1.yml … -4.yml at the repository
// root, containers one…five on the network mynetwork, each finding itself by
// hostname in hostsfile.txt, all on the default ports, graded from stderr.
//
// The repository root holds the course's files: Dockerfile (`docker build .
// -t prj3`, which compiles in golang:1.26), hostsfile.txt and the four
// compose files. This package renders the compose files and hostsfile.txt
// from testcase.Cases (its tests check that the files on disk are exactly
// that), builds the same final image without pulling anything
// (Engine.BuildLocal: the static binary compiled on the host, then
// deploy/Dockerfile.local), and runs groups of containers on the engine:
//
//   - Runner.Case runs one course testcase from its compose file, unmodified,
//     with the default heartbeat settings;
//   - Runner.Fault runs one of Faults on deploy/docker-compose-faults.yml:
//     docker kill of a member and of the leader, docker pause past the timeout
//     then unpause, a container started late after the leader died; or one of
//     Partitions on deploy/docker-compose-partition.yml (every peer with
//     -rejoin): a member, the leader, or two containers together taken off
//     the network with docker network disconnect for 6 s, then reconnected;
//   - Engine.CheckSource builds ./Dockerfile itself on a local stand-in for
//     golang:1.26 and compares the result with the local image.
//
// The image sets PEER_LOG_LEVEL=off, so that `docker compose up`, which
// prints every container's stdout and stderr together, shows the
// assignment's lines alone. Every Group adds LogFile
// (deploy/docker-compose-log.yml) after its compose file to turn the JSON log
// back on, because the checks read it.
//
// A Group is one compose project. It follows each container's stderr alone
// (`docker logs -f` with stdout discarded), so waits end on the testcase's own
// condition (Case.Done, containers exited) rather than on sleeps; at the end
// it reads stdout and stderr apart into peer-N.jsonl and peer-N.stderr, and
// `compose logs` into compose.log. The checks are the testcase package's:
// Case.Check on the stderr lines, testcase.CheckLogs on the JSON logs, plus
// exit codes. Every run ends with `compose down -v --remove-orphans` and a
// check that no container or network of the project is left.
//
// The compose command is `docker compose` when that plugin answers, else
// `docker-compose`. cmd deploy/dockertc (./run.sh docker) is the command line;
// everything here is called from one goroutine, apart from the log followers
// a Group starts itself.
package deploy
