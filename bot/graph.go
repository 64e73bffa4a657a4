package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/claimbot/claimbot/internal/flow"
	"github.com/claimbot/claimbot/internal/insight"
)

func init() {
	register("graph", "draw a flow as a Mermaid or Graphviz diagram, or as SVG", graph)
}

func graph(args []string) error {
	fs := newFlags("graph", "[--format mermaid|dot|svg] FLOW (an id under --flows, or a file)")
	format := fs.String("format", "mermaid", "mermaid, dot, or svg (Graphviz's drawing)")
	dir := fs.String("flows", env("CLAIMBOT_FLOWS", "flows"), "folder of flow files")
	if err := parse(fs, args); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		fs.Usage()
		return errSilent
	}
	path := fs.Arg(0)
	if !strings.HasSuffix(path, ".yaml") && !strings.HasSuffix(path, ".yml") {
		path = filepath.Join(*dir, path+".yaml")
	}
	f, ps := flow.Load(path)
	if errs := ps.Errors(); len(errs) > 0 {
		fmt.Fprintln(os.Stderr, errs.Error())
		return errSilent
	}
	if *format == "svg" {
		svg, err := insight.SVG(context.Background(), f, nil)
		if err != nil {
			return err
		}
		_, err = os.Stdout.Write(svg)
		return err
	}
	out, err := f.Graph(*format)
	if err != nil {
		return err
	}
	fmt.Print(out)
	return nil
}
