package console

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"strings"
	"time"
)

// live streams the region of a page (the overview of ?state=&after=, or
// the saga of ?saga=) as Server-Sent Events: an "update" event carrying
// the region's HTML whenever it changed, checked every refresh interval.
// A stream ends after maxStream, when the client leaves or the console's
// done channel closes (the browser's EventSource reconnects by itself).
func (c *Console) live(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	region := func(ctx context.Context) (string, error) {
		var p page
		var err error
		name := "overview-live"
		if id := q.Get("saga"); id != "" {
			name = "detail-live"
			p, err = c.detailPage(ctx, id)
		} else {
			p, _, err = c.overviewPage(ctx, q)
		}
		if err != nil {
			return "", err
		}
		p.Prefix, p.Service, p.ReadOnly = c.prefix, c.title, c.readOnly
		var b bytes.Buffer
		if err := c.pages.ExecuteTemplate(&b, name, p); err != nil {
			return "", err
		}
		return b.String(), nil
	}
	rc := http.NewResponseController(w)
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	// retry: how long the browser waits before it reconnects.
	if _, err := fmt.Fprintf(w, "retry: %d\n\n", c.refresh.Milliseconds()*2); err != nil {
		return
	}
	_ = rc.Flush()

	ctx, cancel := context.WithTimeout(r.Context(), maxStream)
	defer cancel()
	t := time.NewTicker(c.refresh)
	defer t.Stop()
	last, lastErr := "", ""
	for {
		html, err := region(ctx)
		switch {
		case err != nil && ctx.Err() == nil:
			if msg := err.Error(); msg != lastErr {
				lastErr = msg
				if writeEvent(w, "problem", msg) != nil {
					return
				}
			}
		case err == nil && html != last:
			last, lastErr = html, ""
			if writeEvent(w, "update", html) != nil {
				return
			}
		}
		if rc.Flush() != nil {
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-c.done:
			return
		case <-t.C:
		}
	}
}

// writeEvent writes one SSE event; data may span lines.
func writeEvent(w http.ResponseWriter, event, data string) error {
	var b strings.Builder
	b.WriteString("event: " + event + "\n")
	for line := range strings.SplitSeq(data, "\n") {
		b.WriteString("data: " + strings.TrimSuffix(line, "\r") + "\n")
	}
	b.WriteString("\n")
	_, err := w.Write([]byte(b.String()))
	return err
}
