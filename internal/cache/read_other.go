//go:build !unix

package cache

import (
	"hash"
	"io"
	"os"
)

// readInto feeds a file's content to h through buf.
func readInto(p string, buf []byte, h hash.Hash) (int64, error) {
	f, err := os.Open(p)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	var n int64
	for {
		k, err := f.Read(buf)
		h.Write(buf[:k])
		n += int64(k)
		if err == io.EOF {
			return n, nil
		}
		if err != nil {
			return 0, err
		}
	}
}

// noFollow is 0 where opens cannot refuse symlinks; os.Root still keeps
// them inside the root.
const noFollow = 0
