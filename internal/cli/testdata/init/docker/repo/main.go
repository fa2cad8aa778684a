package main

import (
	"net/http"
)

func main() {
	http.HandleFunc("/ready", func(w http.ResponseWriter, _ *http.Request) {})
	http.ListenAndServe(":9000", nil)
}
