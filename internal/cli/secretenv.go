package cli

import (
	"debug/elf"
	"fmt"
	"os"
	"os/exec"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/tugdev/tug/internal/runtime"
)

// newSecretEnvCmd is `tug secret-env FILE -- COMMAND [ARG...]`, the
// entrypoint the Docker runtime gives a container whose secrets come
// through a file (so `docker inspect` shows none): it sets them (KEY=
// base64 lines) in its environment and execs COMMAND, which becomes the
// container's process. Hidden: only tug starts it.
func newSecretEnvCmd(a *app) *cobra.Command {
	return &cobra.Command{
		Use:                runtime.SecretEnvCommand + " FILE -- COMMAND [ARG...]",
		Short:              "Exec a command with secrets from a file in its environment (used inside containers)",
		Hidden:             true,
		DisableFlagParsing: true,
		RunE: func(_ *cobra.Command, args []string) error {
			if len(args) < 3 || args[1] != "--" {
				return badInputf("usage: tug %s FILE -- COMMAND [ARG...]", runtime.SecretEnvCommand)
			}
			data, err := os.ReadFile(args[0])
			if err != nil {
				return badInput(err)
			}
			kvs, err := runtime.ParseSecretsFile(args[0], data)
			if err != nil {
				return badInput(err)
			}
			for _, kv := range kvs {
				if err := os.Setenv(kv[0], kv[1]); err != nil {
					return badInputf("%s: %s: %v", args[0], kv[0], err)
				}
			}
			argv := args[2:]
			path, err := exec.LookPath(argv[0])
			if err != nil {
				return badInput(err)
			}
			return fmt.Errorf("exec %s: %w", path, syscall.Exec(path, argv, os.Environ()))
		},
	}
}

// staticExecutable is tug's own binary if it needs no dynamic loader, so
// it runs in any container on this host (a secrets entrypoint); else "".
func staticExecutable() string {
	exe, err := os.Executable()
	if err != nil {
		return ""
	}
	f, err := elf.Open(exe)
	if err != nil {
		return ""
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			return ""
		}
	}
	return exe
}
