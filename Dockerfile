# Image prj3, the course's way:   docker build . -t prj3
#
# The first stage compiles the peer in the official Go image (it is pulled
# from Docker Hub, so this needs a machine that can pull). The final stage is
# only the static binary and hostsfile.txt; its entrypoint is the program, so
# the compose files pass flags only (command: -h hostsfile.txt -d 2).
#
# Without a registry, deploy/Dockerfile.local builds the same final stage from
# a binary compiled on the host (./run.sh docker does that; see
# docs/docker.md). deploy/docker_test.go checks that the two final stages match.
#
# The RUN steps use the exec form and ENV instead of a shell, so the build
# stage also runs on a shell-less stand-in for the Go image
# (--build-arg GO_IMAGE=..., ./run.sh docker source).
ARG GO_IMAGE=golang:1.26
FROM ${GO_IMAGE} AS build
WORKDIR /src
ENV CGO_ENABLED=0
COPY go.mod go.sum ./
RUN ["go", "mod", "download"]
COPY . .
RUN ["go", "build", "-trimpath", "-ldflags=-s -w", "-o", "/out/peer", "./cmd/peer"]

# ---- final stage (keep in step with deploy/Dockerfile.local) ----
FROM scratch
WORKDIR /app
COPY --from=build /out/peer /app/peer
COPY hostsfile.txt /app/hostsfile.txt
USER 65534:65534
EXPOSE 7000/tcp 7000/udp
# docker compose up shows stdout and stderr together: only the assignment's
# lines (stderr) by default. The JSON log (stdout) comes back with
# -f deploy/docker-compose-log.yml, -e PEER_LOG_LEVEL=info or -log-level info.
ENV PEER_LOG_LEVEL=off
ENTRYPOINT ["/app/peer"]
