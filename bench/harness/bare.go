package main

import (
	"context"
	"errors"
	"flag"
	"io"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"
)

// bareServer is `harness bare-server`: the machine's HTTP ceiling, a server
// that answers 200 and does nothing else.
func bareServer(args []string) error {
	fs := flag.NewFlagSet("bare-server", flag.ContinueOnError)
	listen := fs.String("listen", "127.0.0.1:8088", "address to listen on")
	path := fs.String("path", "/glassix", "webhook path")
	if err := fs.Parse(args); err != nil {
		return err
	}
	srv := &http.Server{Addr: *listen, Handler: bareHandler(*path), ReadHeaderTimeout: 10 * time.Second}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	go func() {
		<-ctx.Done()
		shutdown, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(shutdown)
	}()
	if err := srv.ListenAndServe(); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// bareHandler reads each POST to path to the end (as any receiver must, to
// keep the connection) and answers 200.
func bareHandler(path string) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST "+path, func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.WriteHeader(http.StatusOK)
	})
	return mux
}
