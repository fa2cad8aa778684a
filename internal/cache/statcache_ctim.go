//go:build linux || openbsd

package cache

import "syscall"

func ctimeNS(s *syscall.Stat_t) int64 { return s.Ctim.Nano() }
