// Command backend is the upstream of the proxy benchmark: it answers every
// request with a small fixed body, as fast as net/http allows.
package main

import (
	"flag"
	"log"
	"net/http"
	"os"
	"strconv"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:18081", "listen address (default 127.0.0.1:$PORT when tug runs it)")
	flag.Parse()
	if p := os.Getenv("PORT"); p != "" && !isSet("addr") {
		*addr = "127.0.0.1:" + p
	}
	body := []byte("hello from the tug benchmark backend\n")
	n := strconv.Itoa(len(body))
	log.Fatal(http.ListenAndServe(*addr, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h["Content-Type"] = []string{"text/plain"}
		h["Content-Length"] = []string{n}
		w.Write(body)
	})))
}

// isSet reports whether the flag was given on the command line.
func isSet(name string) bool {
	set := false
	flag.Visit(func(f *flag.Flag) { set = set || f.Name == name })
	return set
}
