// Command shop is the example service tug builds, tests and (later)
// deploys: a tiny HTTP server with a health check, its version and
// Prometheus metrics.
package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	logger := slog.New(slog.NewTextHandler(os.Stderr, nil))
	v := versionInfo{
		// SHOP_VERSION wins; under tug the release ID names the version.
		Version:  firstNonEmpty(os.Getenv("SHOP_VERSION"), os.Getenv("TUG_RELEASE")),
		Revision: firstNonEmpty(buildRevision(), os.Getenv("TUG_REVISION")),
	}
	if err := serve(ctx, os.Getenv("PORT"), v, logger); err != nil {
		logger.Error("shop stopped", "err", err)
		os.Exit(1)
	}
}

// serve listens on port (8080 when empty) until ctx is done, then drains
// in-flight requests for up to 10 seconds.
func serve(ctx context.Context, port string, v versionInfo, logger *slog.Logger) error {
	if port == "" {
		port = "8080"
	}
	ln, err := net.Listen("tcp", "127.0.0.1:"+port) // the proxy is the listener for the outside
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	srv := &http.Server{Handler: newServer(v.Version).withRevision(v.Revision).routes(), ReadHeaderTimeout: 5 * time.Second}
	logger.Info("shop listening", "addr", ln.Addr().String(), "version", v.Version, "revision", v.Revision)
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	shutdown, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdown); err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	if err := <-errc; !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}
