package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"
)

// client calls the services' HTTP APIs through their gateways.
type client struct {
	http *http.Client
}

// apiError is an error answer of a service: its status and the JSON body
// {"error":{"code","message","field"}} every service answers with.
type apiError struct {
	Status  int
	Code    string `json:"code"`
	Message string `json:"message"`
	Field   string `json:"field"`
}

func (e *apiError) Error() string {
	if e.Field != "" {
		return fmt.Sprintf("%d %s (%s): %s", e.Status, e.Code, e.Field, e.Message)
	}
	return fmt.Sprintf("%d %s: %s", e.Status, e.Code, e.Message)
}

// do sends body (when not nil) as JSON and decodes a 2xx answer into out
// (when not nil); another status is an *apiError.
func (c client) do(ctx context.Context, method, url string, header http.Header, body, out any) error {
	var r io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		r = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, url, r)
	if err != nil {
		return err
	}
	for k, vs := range header {
		req.Header[k] = vs
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return err
	}
	defer func() { _ = resp.Body.Close() }()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return fmt.Errorf("%s %s: %w", method, url, err)
	}
	if resp.StatusCode/100 != 2 {
		e := &apiError{Status: resp.StatusCode, Code: http.StatusText(resp.StatusCode), Message: string(bytes.TrimSpace(data))}
		var wrapped struct{ Error *apiError }
		if json.Unmarshal(data, &wrapped) == nil && wrapped.Error != nil {
			e.Code, e.Message, e.Field = wrapped.Error.Code, wrapped.Error.Message, wrapped.Error.Field
		}
		return fmt.Errorf("%s %s: %w", method, url, e)
	}
	if out == nil {
		return nil
	}
	if err := json.Unmarshal(data, out); err != nil {
		return fmt.Errorf("%s %s: answer: %w", method, url, err)
	}
	return nil
}

// statusOf is the HTTP status of an *apiError in err's chain, or 0.
func statusOf(err error) int {
	if e, ok := errors.AsType[*apiError](err); ok {
		return e.Status
	}
	return 0
}

// poll calls fn every interval until it reports done, fails, or ctx ends.
func poll(ctx context.Context, interval time.Duration, fn func() (done bool, err error)) error {
	for {
		done, err := fn()
		if done || err != nil {
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(interval):
		}
	}
}
