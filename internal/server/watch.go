package server

import (
	"context"
	"errors"
	"path/filepath"
	"time"

	"github.com/fsnotify/fsnotify"

	"github.com/tugdev/tug/internal/config"
)

// watchConfig applies the config file whenever it changes, until ctx
// ends. It watches the file's directory (editors replace files by
// rename) and waits for debounce of quiet before reloading, so one save
// is one reload. A bad file is logged with its positions and changes
// nothing. ready, if not nil, is closed once the watch is in place.
func watchConfig(ctx context.Context, src *configSource, debounce time.Duration, ready chan<- struct{}) error {
	w, err := fsnotify.NewWatcher()
	if err != nil {
		return err
	}
	defer w.Close()
	if err := w.Add(filepath.Dir(src.path)); err != nil {
		return err
	}
	if ready != nil {
		close(ready)
	}
	base := filepath.Base(src.path)
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case ev, ok := <-w.Events:
			if !ok {
				return nil
			}
			if filepath.Base(ev.Name) != base || ev.Op&(fsnotify.Write|fsnotify.Create|fsnotify.Rename) == 0 {
				continue
			}
			timer.Reset(debounce)
		case err, ok := <-w.Errors:
			if !ok {
				return nil
			}
			src.log.Warn("config watch", "err", err)
		case <-timer.C:
			if _, _, err := src.Apply(ctx); err != nil {
				logRefused(src, err)
			}
		}
	}
}

// logRefused logs why a changed file was not applied, one record per
// positioned problem.
func logRefused(src *configSource, err error) {
	var list config.Errors
	if errors.As(err, &list) {
		for _, e := range list {
			src.log.Error("config change refused; the running config stays", "at", e.Error())
		}
		return
	}
	src.log.Error("config change refused; the running config stays", "err", err)
}
