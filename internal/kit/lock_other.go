//go:build !unix

package kit

import "os"

func tryFlock(*os.File, bool) (bool, error) { return true, nil }

func unflock(*os.File) {}
