package main

import (
	"context"
	"os"
	"time"

	"github.com/rs/zerolog"

	"peer/hosts"
)

// hostsfileCheck is how often a running peer looks at its hostsfile.
const hostsfileCheck = 2 * time.Second

// watchHostsfile looks at the hostsfile every period and logs, once per
// change, when it no longer describes the group this peer started with
// (event hostsfile_changed, level error): the group is fixed at start, so a
// new file takes effect only when every peer restarts with it. The peer
// keeps running with the group it has. Changes that leave the entries as
// they were (comments, blank lines) are not reported, nor a state seen at
// only one look. It returns when ctx ends.
func watchHostsfile(ctx context.Context, path string, started *hosts.File, period time.Duration, log zerolog.Logger) {
	ticker := time.NewTicker(period)
	defer ticker.Stop()
	want := signature(started)
	var lastMod time.Time
	var lastSize int64 = -1
	var f *hosts.File
	var err error
	now, prev := want, want // what the file holds at this look and at the last one
	reported := want        // what the log last said it holds
	for {
		select {
		case <-ctx.Done():
			return
		case <-ticker.C:
		}
		st, statErr := os.Stat(path)
		switch {
		case statErr != nil:
			lastMod, lastSize, f, err = time.Time{}, -1, nil, statErr
			now = "error: " + err.Error()
		case !st.ModTime().Equal(lastMod) || st.Size() != lastSize:
			lastMod, lastSize = st.ModTime(), st.Size()
			if f, err = hosts.Load(path); err != nil {
				now = "error: " + err.Error()
			} else {
				now = signature(f)
			}
		}
		// Report a state seen at two looks in a row, not the half-written
		// file an editor leaves for a moment.
		settled := now == prev
		prev = now
		if !settled || now == reported {
			continue
		}
		reported = now
		switch {
		case now == want:
			log.Info().Str("event", "hostsfile_restored").Str("file", path).
				Msg("the hostsfile describes this peer's group again")
		case err != nil:
			log.Error().Str("event", "hostsfile_changed").Str("file", path).Err(err).
				Msg("the hostsfile can no longer be read; this peer keeps the group it started with")
		default:
			log.Error().Str("event", "hostsfile_changed").Str("file", path).Int("hosts", f.Len()).Int("started_with", started.Len()).
				Msg("the hostsfile changed under a running peer; the group is fixed at start: restart every peer to use the new file")
		}
	}
}

// signature is the group a hostsfile describes: its entries in order.
func signature(f *hosts.File) string {
	s := ""
	for _, e := range f.Entries {
		s += e.String() + "\n"
	}
	return s
}
