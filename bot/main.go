// Command claimbot is the claim-intake chat bot: `claimbot` (or `claimbot
// serve`) runs the server; the other subcommands are the tools around it.
package main

import (
	"fmt"
	"os"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		if err != errSilent {
			fmt.Fprintln(os.Stderr, "claimbot:", err)
		}
		os.Exit(1)
	}
}
