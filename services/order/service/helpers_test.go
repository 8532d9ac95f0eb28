package service_test

import (
	"net/http"
	"testing"
	"time"

	"github.com/catga-go/catga/libs/catga/peer/peertest"
)

// call makes an HTTP request with a JSON body (nil for none) and decodes
// the JSON answer into out (when not nil); it returns the status.
func call(t *testing.T, method, url string, body any, header http.Header, out any) int {
	t.Helper()
	return peertest.Client{Header: header, Timeout: 20 * time.Second}.JSON(t, method, url, body, out)
}

func mustf(t *testing.T, ok bool, format string, args ...any) {
	t.Helper()
	if !ok {
		t.Fatalf(format, args...)
	}
}
