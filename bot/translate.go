package main

import (
	"errors"
	"fmt"
	iofs "io/fs"
	"os"
	"path/filepath"

	"github.com/claimbot/claimbot/internal/flow"
	"github.com/claimbot/claimbot/internal/locale"
)

func init() {
	register("translate", "write or update a flow's translation file for translators", translate)
}

func translate(args []string) error {
	fs := newFlags("translate", "[--lang en] FLOW")
	lang := fs.String("lang", "en", "the language to translate into")
	dir := fs.String("flows", env("CLAIMBOT_FLOWS", "flows"), "folder of flow files")
	locales := fs.String("locales", env("CLAIMBOT_LOCALES", "locales"), "folder of message files")
	if err := parse(fs, args); err != nil {
		return err
	}
	if fs.NArg() != 1 || *lang == locale.Source {
		fs.Usage()
		return errSilent
	}
	f, ps := flow.Load(filepath.Join(*dir, fs.Arg(0)+".yaml"))
	if errs := ps.Errors(); len(errs) > 0 {
		fmt.Fprintln(os.Stderr, errs.Error())
		return errSilent
	}
	path := filepath.Join(*locales, f.ID+"."+*lang+".yaml")
	existing, err := locale.ReadTranslations(path)
	if err != nil && !errors.Is(err, errNotExist) {
		return err
	}
	if err := os.WriteFile(path, locale.Stub(f, *lang, existing), 0o644); err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "wrote %s: fill in every empty other:, then run claimbot lint --strict\n", path)
	return nil
}

var errNotExist = iofs.ErrNotExist
