// Package app is the notification service's use cases: record a
// notification for each order that completed or was cancelled, exactly
// once, list an order's notifications, and send each one.
//
// # Exactly once, then at least once
//
// [Service.OnCompleted] and [Service.OnCancelled] handle the order events
// from the service's durable consumer. Each appends a notification.recorded
// event together with the inbox record of the delivered message, in one
// transaction: a redelivery finds the inbox record and appends nothing.
//
// Sending is not in that transaction (a webhook cannot roll back). The
// append also writes the event to the service's outbox, whose relay
// publishes it; [Service.Send] handles it from the service's durable
// consumer of notification.recorded, acknowledging only once the sender
// succeeded. A peer that dies after recording still sends: the outbox
// publishes, another peer's delivery sends. Sends are at least once, each
// with the notification's stable id for the receiver to deduplicate.
package app
