package adapters

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/cenkalti/backoff/v5"

	"github.com/catga-go/catga/libs/catga"
	"github.com/catga-go/catga/services/notification/domain"
)

// HeaderIdempotencyKey carries the notification id on every webhook call,
// the same on every retry and redelivery, for the receiver to deduplicate.
const HeaderIdempotencyKey = "Idempotency-Key"

// WebhookConfig configures a [WebhookSender].
type WebhookConfig struct {
	URL            string        // http(s) endpoint receiving a JSON POST per notification
	Timeout        time.Duration // per attempt; default 5s
	MaxAttempts    int           // per Send; default 4
	InitialBackoff time.Duration // default 200ms, doubling
	MaxBackoff     time.Duration // default 2s
	Client         *http.Client  // default: a client with no timeout of its own (Timeout bounds each attempt)
}

// Validate reports every problem with the configuration.
func (c WebhookConfig) Validate() error {
	var errs []error
	u, err := url.Parse(c.URL)
	switch {
	case c.URL == "":
		errs = append(errs, errors.New("webhook URL is empty"))
	case err != nil:
		errs = append(errs, fmt.Errorf("webhook URL %q: %w", c.URL, err))
	case u.Scheme != "http" && u.Scheme != "https" || u.Host == "":
		errs = append(errs, fmt.Errorf("webhook URL %q: want http(s)://host/path", c.URL))
	}
	if c.Timeout < 0 || c.MaxAttempts < 0 || c.InitialBackoff < 0 || c.MaxBackoff < 0 {
		errs = append(errs, errors.New("webhook timeout, attempts and backoffs must not be negative"))
	}
	return errors.Join(errs...)
}

// WebhookSender POSTs each notification as JSON to a URL. A 2xx answer is
// success. A 4xx answer (other than 408 and 429) is permanent: retrying the
// same body cannot help. Anything else (5xx, 408, 429, a network error, a
// timeout) is retried with exponential backoff up to MaxAttempts; when
// they run out Send returns a retryable error, and the notification is
// delivered again later.
type WebhookSender struct{ cfg WebhookConfig }

// NewWebhookSender validates cfg and returns the sender.
func NewWebhookSender(cfg WebhookConfig) (*WebhookSender, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("catga: notification: %w", err)
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = 5 * time.Second
	}
	if cfg.MaxAttempts == 0 {
		cfg.MaxAttempts = 4
	}
	if cfg.InitialBackoff == 0 {
		cfg.InitialBackoff = 200 * time.Millisecond
	}
	if cfg.MaxBackoff == 0 {
		cfg.MaxBackoff = 2 * time.Second
	}
	if cfg.Client == nil {
		cfg.Client = &http.Client{}
	}
	return &WebhookSender{cfg: cfg}, nil
}

// Send posts n, retrying as the type's documentation says.
func (s *WebhookSender) Send(ctx context.Context, n domain.Notification) error {
	body, err := json.Marshal(n)
	if err != nil {
		return catga.Permanent(fmt.Errorf("catga: notification: encode %s: %w", n.ID, err))
	}
	exp := backoff.NewExponentialBackOff()
	exp.InitialInterval, exp.MaxInterval = s.cfg.InitialBackoff, s.cfg.MaxBackoff
	_, err = backoff.Retry(ctx, func() (struct{}, error) { return struct{}{}, s.post(ctx, n.ID, body) },
		backoff.WithBackOff(exp), backoff.WithMaxTries(uint(s.cfg.MaxAttempts)), backoff.WithMaxElapsedTime(0))
	var perm permanent
	if errors.As(err, &perm) {
		return catga.Permanent(perm.err)
	}
	return err
}

// permanent marks an answer not worth retrying, for backoff.Retry (which
// stops at a *backoff.PermanentError) and for Send (which turns it into
// catga.Permanent).
type permanent struct{ err error }

func (p permanent) Error() string { return p.err.Error() }

func (s *WebhookSender) post(ctx context.Context, id string, body []byte) error {
	ctx, cancel := context.WithTimeout(ctx, s.cfg.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.cfg.URL, bytes.NewReader(body))
	if err != nil {
		return backoff.Permanent(permanent{fmt.Errorf("catga: notification: webhook request: %w", err)})
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set(HeaderIdempotencyKey, id)
	resp, err := s.cfg.Client.Do(req)
	if err != nil {
		return fmt.Errorf("catga: notification: webhook %s: %w", id, err)
	}
	defer func() { _ = resp.Body.Close() }()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10)) // lets the connection be reused
	switch code := resp.StatusCode; {
	case code >= 200 && code < 300:
		return nil
	case code >= 400 && code < 500 && code != http.StatusRequestTimeout && code != http.StatusTooManyRequests:
		return backoff.Permanent(permanent{fmt.Errorf("catga: notification: webhook %s: refused with %d", id, code)})
	default:
		return fmt.Errorf("catga: notification: webhook %s: answered %s", id, strconv.Itoa(code))
	}
}
