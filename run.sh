#!/usr/bin/env bash
# peer: build, run the course's testcases, run the tests.
#
#   ./run.sh            build, then TESTCASE 1-4 as local processes (about a minute)
#   ./run.sh tc1 .. tc4 one testcase
#   ./run.sh test       the whole test suite (what CI runs); with -race when
#                       cgo and a C compiler are there, else without it
#   ./run.sh build      only build bin/peer and bin/tc
#   ./run.sh cluster    five local peers from hosts/examples/local5.txt, until Ctrl-C
#   ./run.sh docker [N|faults|partition|source]  image prj3 on the Docker engine:
#                       the compose testcases, the container faults, the network
#                       partitions (docs/docker.md)
#
# Environment: SCALE (default 0.5) multiplies the course's -d/-c seconds;
# HB_INTERVAL / HB_TIMEOUT (default 100ms / 300ms) are the heartbeat flags.
set -euo pipefail
cd "$(dirname "$0")"
command -v go >/dev/null 2>&1 || export PATH="/usr/local/go/bin:$PATH"
command -v go >/dev/null 2>&1 || { echo "run.sh: Go is not installed (https://go.dev/dl/)" >&2; exit 2; }

SCALE=${SCALE:-0.5}
HB_INTERVAL=${HB_INTERVAL:-100ms}
HB_TIMEOUT=${HB_TIMEOUT:-300ms}

build() {
	mkdir -p bin
	CGO_ENABLED=0 go build -o bin/peer ./cmd/peer
	go build -o bin/tc ./tools/cmd/tc
}

testcases() {
	build
	local status=0
	bin/tc -bin bin/peer -logs logs -scale "$SCALE" -hb-interval "$HB_INTERVAL" -hb-timeout "$HB_TIMEOUT" "$@" || status=$?
	# A picture of each run (docs/timeline.md); it never changes the result.
	local dirs=() n
	for n in "$@"; do [ -d "logs/tc$n" ] && dirs+=("logs/tc$n"); done
	if [ ${#dirs[@]} -gt 0 ]; then
		echo "== timeline (open the SVG in a browser; view history: go run ./tools/cmd/timeline logs/tcN)"
		{ go build -o bin/timeline ./tools/cmd/timeline && bin/timeline -q "${dirs[@]}"; } || echo "run.sh: timeline failed" >&2
	fi
	return $status
}

tests() {
	echo "== gofmt"
	local unformatted
	unformatted=$(gofmt -l $(git ls-files '*.go' 2>/dev/null || find . -name '*.go'))
	if [ -n "$unformatted" ]; then echo "gofmt would change:"; echo "$unformatted"; return 1; fi
	echo "== go vet"
	go vet ./...
	local why
	why=$(race_missing)
	if [ -z "$why" ]; then
		echo "== go test -race"
		go test -race -count=1 -timeout 15m ./...
	else
		echo "== go test, without -race: the race detector needs cgo and a C compiler ($why)"
		go test -count=1 -timeout 15m ./...
	fi
}

# race_missing prints why `go test -race` cannot run here, or nothing when it
# can: the race detector is built with cgo, and cgo needs a C compiler.
race_missing() {
	if [ "$(go env CGO_ENABLED)" != 1 ]; then
		echo "CGO_ENABLED=0 here"
		return
	fi
	local cc
	cc=$(go env CC)
	cc=${cc%% *}
	command -v "${cc:-gcc}" >/dev/null 2>&1 || echo "no C compiler: ${cc:-gcc} not found"
}

cluster() {
	build
	echo "five peers from hosts/examples/local5.txt; Ctrl-C stops them (logs in logs/cluster)"
	mkdir -p logs/cluster
	local pids=()
	for i in 1 2 3 4 5; do
		bin/peer -h hosts/examples/local5.txt -i "$i" -hb-interval "$HB_INTERVAL" -hb-timeout "$HB_TIMEOUT" \
			>"logs/cluster/peer-$i.jsonl" &
		pids+=($!)
		sleep 0.2
	done
	trap 'kill "${pids[@]}" 2>/dev/null; wait' INT TERM
	wait
}

# ---- Docker (docs/docker.md): image prj3, the course's compose files ----
# PEER_DOCKER=0 skips the container runs in ./run.sh test.
docker_available() {
	command -v docker >/dev/null 2>&1 && timeout 30 docker info >/dev/null 2>&1
}

docker_testcases() {
	go build -o bin/dockertc ./deploy/dockertc
	bin/dockertc "$@"
}

docker_tests() {
	echo "== docker: image prj3, the four compose testcases, the container faults and partitions, the Dockerfile's source path"
	if [ "${PEER_DOCKER:-1}" = 0 ]; then
		echo "docker: PEER_DOCKER=0, container testcases skipped"
	elif ! docker_available; then
		echo "docker: engine not available, container testcases skipped"
	else
		docker_testcases -q 1 2 3 4 faults partition source
	fi
}

case "${1:-all}" in
	all) testcases 1 2 3 4 ;;
	tc[1-4]) testcases "${1#tc}" ;;
	test) tests; docker_tests ;;
	build) build ;;
	cluster) cluster ;;
	docker) shift; docker_testcases "$@" ;;
	bench) shift; (cd bench && go run ./cmd/bench "$@") ;; # peer vs hashicorp/memberlist (docs/benchmarks.md); -quick for a smoke run, -loss-only for the UDP loss rows, -leave-only for the SIGTERM (graceful leave) rows
	*) sed -n '2,15p' "$0"; exit 2 ;;
esac
