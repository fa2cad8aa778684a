// Command httpapp is the service the runtime tests run: it serves on
// $HOST:$PORT, reports its environment and PID, and can crash on demand.
// Built statically, it also runs in a FROM scratch image.
package main

import (
	"fmt"
	"net/http"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"
)

func main() {
	if os.Getenv("EXEC_SLEEP") != "" {
		// Become a program with no SIGTERM handler (see the Docker tests).
		err := syscall.Exec("/busybox", []string{"sleep", "300"}, os.Environ())
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	if os.Getenv("CRASH") != "" {
		fmt.Println("httpapp crashing on purpose")
		os.Exit(3)
	}
	addr := os.Getenv("HOST") + ":" + os.Getenv("PORT")
	fmt.Printf("httpapp listening on %s pid=%d\n", addr, os.Getpid())
	fmt.Fprintln(os.Stderr, "httpapp says hello on stderr")
	mux := http.NewServeMux()
	mux.HandleFunc("/env", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, os.Getenv(r.URL.Query().Get("k")))
	})
	mux.HandleFunc("/pid", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, os.Getpid())
	})
	mux.HandleFunc("/say", func(w http.ResponseWriter, r *http.Request) {
		// One write for all lines, so a log rotation cannot split them.
		n, _ := strconv.Atoi(r.URL.Query().Get("n"))
		var b strings.Builder
		for i := range max(n, 1) {
			fmt.Fprintf(&b, "%s %d\n", r.URL.Query().Get("msg"), i)
		}
		os.Stdout.WriteString(b.String())
	})
	mux.HandleFunc("/exit", func(w http.ResponseWriter, r *http.Request) {
		fmt.Println("httpapp exiting on request")
		go func() { time.Sleep(50 * time.Millisecond); os.Exit(3) }()
	})
	if err := http.ListenAndServe(addr, mux); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
