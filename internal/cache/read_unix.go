//go:build unix

package cache

import (
	"hash"
	"io/fs"
	"syscall"
)

// readInto feeds a file's content to h through buf with plain system
// calls: an os.File's poller registration and finalizer cost more than
// reading a small input file.
func readInto(p string, buf []byte, h hash.Hash) (int64, error) {
	var fd int
	var err error
	for {
		fd, err = syscall.Open(p, syscall.O_RDONLY|syscall.O_CLOEXEC, 0)
		if err != syscall.EINTR {
			break
		}
	}
	if err != nil {
		return 0, &fs.PathError{Op: "open", Path: p, Err: err}
	}
	defer syscall.Close(fd)
	var n int64
	for {
		k, err := syscall.Read(fd, buf)
		if err == syscall.EINTR {
			continue
		}
		if err != nil {
			return 0, &fs.PathError{Op: "read", Path: p, Err: err}
		}
		if k == 0 {
			return n, nil
		}
		h.Write(buf[:k])
		n += int64(k)
	}
}

// noFollow makes an open fail on a symlink rather than follow it.
const noFollow = syscall.O_NOFOLLOW
