package secret

import (
	"bytes"
	"io"
	"sync"
)

// maxPending is how much unterminated output a masking writer holds back
// before it flushes part of it anyway.
const maxPending = 64 << 10

// Writer returns a writer that masks everything written to it before
// passing it to w.
//
// It holds output back until a newline (or until more than 64 KiB are
// pending), so a secret split across two writes is still masked; Close
// flushes what is left and does not close w. Writes and Close may come
// from several goroutines.
func (m *Masker) Writer(w io.Writer) io.WriteCloser {
	return &maskWriter{m: m, w: w}
}

type maskWriter struct {
	m       *Masker
	w       io.Writer
	mu      sync.Mutex
	pending []byte
	closed  bool
}

func (mw *maskWriter) Write(p []byte) (int, error) {
	mw.mu.Lock()
	defer mw.mu.Unlock()
	if mw.closed {
		return 0, io.ErrClosedPipe
	}
	mw.pending = append(mw.pending, p...)
	cut := bytes.LastIndexByte(mw.pending, '\n') + 1
	if len(mw.pending)-cut > maxPending {
		cut = mw.safeCut()
	}
	if cut == 0 {
		return len(p), nil
	}
	if err := mw.flush(cut); err != nil {
		return len(p), err
	}
	return len(p), nil
}

// safeCut picks how much of an overlong pending buffer can go out: all but
// the last maxLen-1 bytes (a secret starting there may not be complete
// yet), moved past any secret it would split.
func (mw *maskWriter) safeCut() int {
	if mw.m == nil {
		return len(mw.pending)
	}
	keep := max(mw.m.longest-1, 0)
	cut := len(mw.pending) - keep
	for _, sp := range mw.m.spans(string(mw.pending)) {
		if sp.start < cut && cut < sp.end {
			cut = sp.end
		}
	}
	return cut
}

// flush masks and writes pending[:n], keeping the rest.
func (mw *maskWriter) flush(n int) error {
	out := mw.m.Mask(string(mw.pending[:n]))
	rest := copy(mw.pending, mw.pending[n:])
	mw.pending = mw.pending[:rest]
	_, err := io.WriteString(mw.w, out)
	return err
}

// Close flushes the pending output. Later writes fail.
func (mw *maskWriter) Close() error {
	mw.mu.Lock()
	defer mw.mu.Unlock()
	if mw.closed {
		return nil
	}
	mw.closed = true
	if len(mw.pending) == 0 {
		return nil
	}
	return mw.flush(len(mw.pending))
}
