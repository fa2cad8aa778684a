package cli

import (
	"github.com/spf13/cobra"

	"github.com/tugdev/tug/internal/runtime"
)

// newMaskLogCmd is `tug mask-log INSTANCE`, the masking writer the
// process runtime puts between an instance with secrets and its log file
// (see runtime.RunMaskLog). The instance ID only names it in `ps`.
// Hidden: only tug starts it.
func newMaskLogCmd(*app) *cobra.Command {
	return &cobra.Command{
		Use:                runtime.MaskLogCommand + " INSTANCE",
		Short:              "Copy an instance's output to its log with its secrets masked (started by the server)",
		Hidden:             true,
		DisableFlagParsing: true,
		SilenceUsage:       true,
		RunE: func(*cobra.Command, []string) error {
			return runtime.RunMaskLog()
		},
	}
}
