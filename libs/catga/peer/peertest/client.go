package peertest

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

// Client sends a test's HTTP requests to one server (a peer, see
// [Process.Client], or an httptest.Server) and fails the test when no
// answer comes: a transport error or Timeout passing.
type Client struct {
	// URL is the server's base URL, e.g. "http://127.0.0.1:41237"; each
	// request's path is appended to it (empty: each path is a whole URL).
	URL string
	// Header is sent with every request (may be nil).
	Header http.Header
	// Timeout bounds each request (default 10s).
	Timeout time.Duration
}

// Client returns a [Client] of the peer's HTTP server.
func (p *Process) Client() Client { return Client{URL: p.URL} }

// Do sends method path with body ("" for none) and returns the answer's
// status and body.
func (c Client) Do(t testing.TB, method, path, body string) (status int, resp []byte) {
	t.Helper()
	var r io.Reader
	if body != "" {
		r = strings.NewReader(body)
	}
	return c.send(t, method, path, r)
}

// JSON sends method path with in as the JSON body (nil for none; a string
// or []byte is sent as it is, for bodies that are not JSON), decodes a
// non-empty answer into out unless out is nil, and returns the answer's
// status. An answer that does not decode into out fails t.
func (c Client) JSON(t testing.TB, method, path string, in, out any) (status int) {
	t.Helper()
	var r io.Reader
	switch b := in.(type) {
	case nil:
	case string:
		r = strings.NewReader(b)
	case []byte:
		r = bytes.NewReader(b)
	default:
		j, err := json.Marshal(b)
		if err != nil {
			t.Fatalf("peertest: %s %s: %v", method, path, err)
		}
		r = bytes.NewReader(j)
	}
	status, raw := c.send(t, method, path, r)
	if out != nil && len(raw) > 0 {
		if err := json.Unmarshal(raw, out); err != nil {
			t.Fatalf("peertest: %s %s: %d %s: %v", method, path, status, raw, err)
		}
	}
	return status
}

func (c Client) send(t testing.TB, method, path string, body io.Reader) (int, []byte) {
	t.Helper()
	timeout := c.Timeout
	if timeout <= 0 {
		timeout = 10 * time.Second
	}
	ctx, cancel := context.WithTimeout(t.Context(), timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, c.URL+path, body)
	if err != nil {
		t.Fatalf("peertest: %v", err)
	}
	for k, vs := range c.Header {
		req.Header[k] = vs
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("peertest: %s %s: %v", method, c.URL+path, err)
	}
	defer func() { _ = res.Body.Close() }()
	raw, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatalf("peertest: %s %s: %v", method, c.URL+path, err)
	}
	return res.StatusCode, raw
}

// Eventually polls cond every 50ms until it holds, failing t when it does
// not within d; what names the awaited condition in the failure.
func Eventually(t testing.TB, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %v", what, d)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
