package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/claimbot/claimbot/internal/flow"
	"github.com/claimbot/claimbot/internal/locale"
)

func init() {
	register("lint", "check flow files: every problem at once, as file:line:col", lint)
}

func lint(args []string) error {
	fs := newFlags("lint", "[--strict] [flows/ | FILE.yaml …]")
	strict := fs.Bool("strict", false, "missing or stale translations are errors too (CI)")
	locales := fs.String("locales", env("CLAIMBOT_LOCALES", "locales"), "folder of message files")
	if err := parse(fs, args); err != nil {
		return err
	}
	paths := fs.Args()
	if len(paths) == 0 {
		paths = []string{env("CLAIMBOT_FLOWS", "flows")}
	}
	flows := map[string]*flow.Flow{}
	var ps flow.Problems
	for _, p := range paths {
		st, err := os.Stat(p)
		if err != nil {
			ps = append(ps, flow.Problem{File: p, Msg: err.Error()})
			continue
		}
		if st.IsDir() {
			fl, dirPs := flow.LoadDir(p)
			ps = append(ps, dirPs...)
			for id, f := range fl {
				flows[id] = f
			}
			continue
		}
		f, filePs := flow.Load(p)
		ps = append(ps, filePs...)
		if f != nil && len(filePs.Errors()) == 0 {
			flows[f.ID] = f
		}
	}
	if len(flows) > 0 {
		_, lps := locale.Load(*locales, flows)
		ps = append(ps, lps...)
	}
	ps.Sort()
	errs, warns := 0, 0
	for _, p := range ps {
		if p.Warning && *strict {
			p.Warning = false
			p.Msg += " (an error under --strict)"
		}
		if p.Warning {
			warns++
		} else {
			errs++
		}
		fmt.Println(rel(p).String())
	}
	fmt.Fprintf(os.Stderr, "%d flows checked: %d errors, %d warnings\n", len(flows), errs, warns)
	if errs > 0 {
		return errSilent
	}
	return nil
}

// rel shows a problem's file relative to the working folder.
func rel(p flow.Problem) flow.Problem {
	if wd, err := os.Getwd(); err == nil {
		if r, err := filepath.Rel(wd, p.File); err == nil && filepath.IsAbs(p.File) && !strings.HasPrefix(r, "..") {
			p.File = r
		}
	}
	return p
}
