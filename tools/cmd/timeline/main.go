// Command timeline draws a run of the membership service.
//
//	timeline [-q] [-gap DUR] [-o NAME] LOGDIR...
//
// For each LOGDIR (a folder of peer-K.jsonl logs, such as logs/tc4) it merges
// the peers' logs, writes LOGDIR/timeline.svg, a space-time diagram with one
// lane per peer, and prints the view history as a table (not with -q).
package main

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"path/filepath"

	"peer/tools/timeline"
)

func main() {
	quiet := flag.Bool("q", false, "print only where the pictures are, not the view history")
	gap := flag.Duration("gap", timeline.DefaultOptions.Gap, "cut quiet stretches longer than this out of the picture")
	name := flag.String("o", "timeline.svg", "file `name` written in each LOGDIR")
	flag.Usage = func() {
		fmt.Fprintln(os.Stderr, "usage: timeline [-q] [-gap DUR] [-o NAME] LOGDIR...")
		flag.PrintDefaults()
	}
	flag.Parse()
	if flag.NArg() == 0 {
		flag.Usage()
		os.Exit(2)
	}
	opts := timeline.DefaultOptions
	opts.Gap = *gap
	failed := false
	for _, dir := range flag.Args() {
		if err := render(dir, *name, opts, *quiet); err != nil {
			fmt.Fprintf(os.Stderr, "timeline: %v\n", err)
			failed = true
		}
	}
	if failed {
		os.Exit(1)
	}
}

func render(dir, name string, opts timeline.Options, quiet bool) error {
	l, err := timeline.Load(dir)
	if err != nil {
		return err
	}
	var svg bytes.Buffer
	if err := l.WriteSVG(&svg, opts); err != nil {
		return err
	}
	out := filepath.Join(dir, name)
	if err := os.WriteFile(out, svg.Bytes(), 0o644); err != nil {
		return err
	}
	if !quiet {
		if err := l.WriteTable(os.Stdout); err != nil {
			return err
		}
	}
	fmt.Printf("timeline: %s\n", out)
	return nil
}
