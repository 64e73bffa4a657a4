package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/claimbot/claimbot/internal/flow"
)

func init() {
	register("graph", "draw a flow as a Mermaid or Graphviz diagram", graph)
}

func graph(args []string) error {
	fs := newFlags("graph", "[--format mermaid|dot] FLOW (an id under --flows, or a file)")
	format := fs.String("format", "mermaid", "mermaid or dot")
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
	out, err := f.Graph(*format)
	if err != nil {
		return err
	}
	fmt.Print(out)
	return nil
}
