// Go net/http with its defaults (http.DefaultClient): GET the URL given as the only
// argument, read the body, print the status code; "error ..." and exit 1 on failure.
package main

import (
	"fmt"
	"io"
	"net/http"
	"os"
)

func main() {
	resp, err := http.Get(os.Args[1])
	if err != nil {
		fmt.Println("error", err)
		os.Exit(1)
	}
	defer resp.Body.Close()
	if _, err := io.Copy(io.Discard, resp.Body); err != nil {
		fmt.Println("error", err)
		os.Exit(1)
	}
	fmt.Println(resp.StatusCode)
}
