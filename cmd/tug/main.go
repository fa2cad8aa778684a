// Command tug is a DevOps engineer in one binary.
package main

import (
	"os"

	"github.com/tugdev/tug/internal/cli"
)

func main() { os.Exit(cli.Main()) }
