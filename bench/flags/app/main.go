// Command app is the service of the flags benchmark: it answers / with
// "ok" (the proxied request measured beside flag evaluations) and
// /flags-env with the OFREP base URL and client key tug gave it.
package main

import (
	"fmt"
	"net/http"
	"os"
)

func main() {
	mux := http.NewServeMux()
	mux.HandleFunc("/", func(w http.ResponseWriter, _ *http.Request) { fmt.Fprint(w, "ok") })
	mux.HandleFunc("/flags-env", func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprintf(w, "%s %s\n", os.Getenv("TUG_FLAGS_URL"), os.Getenv("TUG_FLAGS_KEY"))
	})
	if err := http.ListenAndServe("127.0.0.1:"+os.Getenv("PORT"), mux); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
