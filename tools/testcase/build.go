package testcase

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
)

// BuildPeer compiles cmd/peer into dir (statically, CGO_ENABLED=0) and
// returns the binary's path. The end-to-end tests here and in hostile use it.
func BuildPeer(dir string) (string, error) { return BuildPeerTags(dir, "") }

// BuildPeerTags builds cmd/peer with build tags (for instance "peertest",
// which lets PEER_TEST_UDP_LOSS drop heartbeats) into dir.
func BuildPeerTags(dir, tags string) (string, error) {
	bin := filepath.Join(dir, "peer")
	if tags != "" {
		bin += "-" + tags
	}
	cmd := exec.Command("go", "build", "-tags", tags, "-o", bin, "peer/cmd/peer")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("testcase: build peer: %v\n%s", err, out)
	}
	return bin, nil
}
