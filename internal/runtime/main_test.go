package runtime

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

// appPath is the test service (testdata/httpapp), built statically once
// in TestMain so that it also runs in a FROM scratch image.
var appPath string

func TestMain(m *testing.M) {
	if len(os.Args) > 1 && os.Args[1] == MaskLogCommand {
		// The test binary stands in for tug as the masking writer.
		if err := RunMaskLog(); err != nil {
			fmt.Fprintln(os.Stderr, "mask-log:", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	dir, err := os.MkdirTemp("", "tug-runtime-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	appPath = filepath.Join(dir, "httpapp")
	cmd := exec.Command("go", "build", "-o", appPath, "./testdata/httpapp")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "build testdata/httpapp: %v\n%s", err, out)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	code := m.Run()
	cleanupDockerImage()
	os.RemoveAll(dir)
	os.Exit(code)
}

var httpClient = &http.Client{Timeout: 5 * time.Second}

// get fetches http://addr+path, returning the body or "" and the error.
func get(addr, path string) (string, error) {
	resp, err := httpClient.Get("http://" + addr + path)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("GET %s: %s", path, resp.Status)
	}
	return string(b), err
}
