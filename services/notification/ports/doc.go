// Package ports is the notification service's edge: the consumers of the
// order events and of its own notification.recorded events ([Consume]),
// and its HTTP API ([Mount]).
package ports
