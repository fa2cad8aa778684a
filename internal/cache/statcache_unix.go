//go:build linux || darwin || freebsd || netbsd || dragonfly || openbsd

package cache

import (
	"io/fs"
	"syscall"
)

// statOf is the stat cache's view of fi; ok is false when the platform
// gives no inode, device and change time.
func statOf(fi fs.FileInfo) (fileStat, bool) {
	s, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return fileStat{}, false
	}
	return fileStat{
		Size:    s.Size,
		MtimeNS: fi.ModTime().UnixNano(),
		CtimeNS: ctimeNS(s),
		Ino:     uint64(s.Ino),
		Dev:     uint64(s.Dev),
		Mode:    uint32(s.Mode),
	}, true
}
