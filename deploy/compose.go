package deploy

import (
	"fmt"
	"strings"

	"peer/tools/testcase"
)

// Names are the containers' hostnames, container names and compose service
// names, in peer id order: the lines of hostsfile.txt.
var Names = [5]string{"one", "two", "three", "four", "five"}

// Image is the image the compose files run.
const Image = "prj3"

// Network is the compose network every container joins.
const Network = "mynetwork"

// HostsFile is the text of the top-level hostsfile.txt: one hostname per
// line, no port, so every peer listens on the default ports.
func HostsFile() string { return strings.Join(Names[:], "\n") + "\n" }

// CaseFile is the name of testcase n's compose file at the repository root.
func CaseFile(n int) string { return fmt.Sprintf("docker-compose-testcase-%d.yml", n) }

// FaultsFile is the compose file of the fault runs, relative to the
// repository root: a stable group of five that joins within a few seconds.
const FaultsFile = "deploy/docker-compose-faults.yml"

// PartitionFile is the compose file of the partition runs, relative to the
// repository root: the fault runs' group with -rejoin on every peer, so that
// a peer cut off the network, and removed by the others meanwhile, joins
// again once the network is back.
const PartitionFile = "deploy/docker-compose-partition.yml"

// LogFile is a compose override, relative to the repository root, that turns
// the JSON log back on. The image sets PEER_LOG_LEVEL=off, so that
// `docker compose up` shows only the assignment's lines; adding this file
// (`-f deploy/docker-compose-log.yml` after the testcase's file) sets it to
// info in every container. The runner always adds it: testcase.CheckLogs
// reads that log.
const LogFile = "deploy/docker-compose-log.yml"

// LogLevel is the level LogFile sets.
const LogLevel = "info"

// faultFlags are the fault runs' flags: peer 1 starts the group, the others
// join together a second later (the leader adds them in one or more batches).
var faultFlags = [5][]string{{}, {"-d", "1"}, {"-d", "1"}, {"-d", "1"}, {"-d", "1"}}

// partitionFlags are faultFlags with -rejoin.
var partitionFlags = [5][]string{{"-rejoin"}, {"-d", "1", "-rejoin"}, {"-d", "1", "-rejoin"}, {"-d", "1", "-rejoin"}, {"-d", "1", "-rejoin"}}

// ComposeCase renders testcase c's compose file, byte for byte the file at
// the repository root (deploy/docker_test.go compares them).
func ComposeCase(c testcase.Case) string {
	head := fmt.Sprintf("# TESTCASE %d: %s.\n#\n#   docker build . -t prj3\n#   docker compose -f %s up\n#\n"+
		"# Each container finds itself by hostname in hostsfile.txt; the grading reads stderr.\n",
		c.N, c.Name, CaseFile(c.N))
	return compose(head, c.Flags)
}

// ComposeFaults renders FaultsFile.
func ComposeFaults() string {
	head := "# The fault runs (./run.sh docker faults): the course's five containers, all\n" +
		"# joining at once; deploy/faults.go kills, pauses and starts them one by one.\n"
	return compose(head, faultFlags)
}

// ComposePartition renders PartitionFile.
func ComposePartition() string {
	head := "# The partition runs (./run.sh docker partition): the fault runs' group with\n" +
		"# -rejoin; deploy/partition.go cuts containers off the network and reconnects\n" +
		"# them, and a peer the others removed meanwhile joins again.\n"
	return compose(head, partitionFlags)
}

func compose(head string, flags [5][]string) string {
	var b strings.Builder
	b.WriteString(head)
	b.WriteString("version: \"3\"\n\nservices:\n")
	for i, name := range Names {
		cmd := append([]string{"-h", "hostsfile.txt"}, flags[i]...)
		fmt.Fprintf(&b, "  %s:\n", name)
		fmt.Fprintf(&b, "    image: %s\n", Image)
		fmt.Fprintf(&b, "    hostname: %s\n", name)
		fmt.Fprintf(&b, "    container_name: %s\n", name)
		fmt.Fprintf(&b, "    command: %s\n", strings.Join(cmd, " "))
		fmt.Fprintf(&b, "    networks:\n      - %s\n", Network)
	}
	fmt.Fprintf(&b, "\nnetworks:\n  %s:\n    driver: bridge\n", Network)
	return b.String()
}

// ComposeLog renders LogFile.
func ComposeLog() string {
	var b strings.Builder
	b.WriteString("# The JSON log (stdout) back on, for any of the compose files: add this file\n" +
		"# after the testcase's, e.g.\n#\n" +
		"#   docker compose -f docker-compose-testcase-2.yml -f " + LogFile + " up\n#\n" +
		"# The image prj3 sets PEER_LOG_LEVEL=off, so that `docker compose up` shows\n" +
		"# only the assignment's lines (stderr).\n")
	b.WriteString("version: \"3\"\n\nservices:\n")
	for _, name := range Names {
		fmt.Fprintf(&b, "  %s:\n    environment:\n      PEER_LOG_LEVEL: %s\n", name, LogLevel)
	}
	return b.String()
}
