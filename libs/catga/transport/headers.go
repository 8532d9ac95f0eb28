package transport

import (
	"context"
	"strings"
)

type headersKey struct{} // per-call headers to send

// WithHeaders returns ctx whose requests (Route, Request) and events
// (PublishEvent, BroadcastEvent) carry h besides the transport's own
// headers: per-call data such as a tenant or a feature flag. Keys with the
// reserved prefixes "Catga-" and "Nats-", and Content-Type, are skipped:
// they cannot override what the transport writes.
func WithHeaders(ctx context.Context, h Header) context.Context {
	return context.WithValue(ctx, headersKey{}, h)
}

// HeadersFrom returns the headers of the message a handler is handling
// (every header, the transport's included), or nil outside a handler. The
// handler must not modify them.
func HeadersFrom(ctx context.Context) Header {
	if in, _ := ctx.Value(inboundKey{}).(*inbound); in != nil {
		return in.header
	}
	return nil
}

// addCallHeaders copies the caller's per-call headers (see WithHeaders)
// into h, skipping reserved keys.
func addCallHeaders(ctx context.Context, h Header) {
	extra, _ := ctx.Value(headersKey{}).(Header)
	for k, v := range extra {
		if reservedHeader(k) {
			continue
		}
		h[k] = append([]string(nil), v...)
	}
}

func reservedHeader(k string) bool {
	return strings.HasPrefix(k, "Catga-") || strings.HasPrefix(k, "Nats-") || k == HeaderContentType
}
