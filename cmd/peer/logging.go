package main

import (
	"errors"
	"os"

	"github.com/rs/zerolog"
)

// logLevelEnv names the environment variable that sets -log-level's default.
// The image prj3 sets it to "off", so that `docker compose up`, which shows
// each container's stdout and stderr together, shows only the assignment's
// lines; `-log-level info` or PEER_LOG_LEVEL=info brings the JSON log back.
const logLevelEnv = "PEER_LOG_LEVEL"

// defaultLogLevel is -log-level's default: $PEER_LOG_LEVEL when set, else info.
func defaultLogLevel() string {
	if v := os.Getenv(logLevelEnv); v != "" {
		return v
	}
	return "info"
}

// parseLogLevel reads a -log-level value: zerolog's level names, and "off"
// for no log at all.
func parseLogLevel(s string) (zerolog.Level, error) {
	switch s {
	case "off":
		return zerolog.Disabled, nil
	case "":
		return zerolog.NoLevel, errors.New("empty log level")
	}
	return zerolog.ParseLevel(s)
}
