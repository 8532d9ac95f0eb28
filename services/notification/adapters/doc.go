// Package adapters holds the notification service's senders: [LogSender]
// (the default: it logs each notification) and [WebhookSender] (an HTTP
// POST per notification, retried with backoff a bounded number of times,
// with the notification id as its Idempotency-Key).
package adapters
