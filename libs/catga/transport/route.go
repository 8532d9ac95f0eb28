package transport

import (
	"fmt"
	"strings"
)

// Route is the wire contract of one request type: the subject requests of
// type Req travel on, answered by a Resp. Declare it once, in a package
// that the serving and the calling service both import, and hand it to
// [Serve], [Register] and [Request]:
//
//	var ChargeRoute = transport.NewRoute[ChargePayment, PaymentCharged]("payment.charge")
//
// The subject is catga.cmd.<name>: what the service declared, not what Go
// calls the types, so renaming or moving them changes nothing on the wire.
type Route[Req, Resp any] struct{ name string }

// NewRoute declares the route of Req named name: dot-separated tokens of
// letters, digits, '-' and '_', e.g. "payment.charge". An invalid name is
// reported by every function the route is handed to.
func NewRoute[Req, Resp any](name string) Route[Req, Resp] { return Route[Req, Resp]{name: name} }

// Name is the name the route was declared with.
func (r Route[Req, Resp]) Name() string { return r.name }

// Subject is the subject requests travel on.
func (r Route[Req, Resp]) Subject() string { return CommandPrefix + r.name }

// Validate reports an invalid name.
func (r Route[Req, Resp]) Validate() error { return validateName("route", r.name) }

// Topic is the wire contract of one event type, declared once like a
// [Route]:
//
//	var OrderPlacedTopic = transport.NewTopic[OrderPlaced]("order.placed")
//
// Durable events ([PublishEvent], [ConsumeEvents]) travel on
// catga.evt.<name>, broadcasts ([BroadcastEvent], [SubscribeBroadcast]) on
// catga.bcast.<name>.
type Topic[E any] struct{ name string }

// NewTopic declares the topic of E named name, with the rules of
// [NewRoute].
func NewTopic[E any](name string) Topic[E] { return Topic[E]{name: name} }

// Name is the name the topic was declared with.
func (t Topic[E]) Name() string { return t.name }

// Subject is the subject durable events travel on.
func (t Topic[E]) Subject() string { return EventPrefix + t.name }

// BroadcastSubject is the subject broadcasts travel on.
func (t Topic[E]) BroadcastSubject() string { return BroadcastPrefix + t.name }

// Consumer is the durable consumer through which service's peers consume
// the topic (see [ConsumeEvents]); its dead letters go to
// [DeadLetterSubject] of it.
func (t Topic[E]) Consumer(service string) string { return service + "_" + TokenName(t.name) }

// Validate reports an invalid name.
func (t Topic[E]) Validate() error { return validateName("topic", t.name) }

// Subject prefixes.
const (
	CommandPrefix   = "catga.cmd."
	EventPrefix     = "catga.evt."
	BroadcastPrefix = "catga.bcast."
)

// validateName: a name becomes part of subjects, queue groups and durable
// consumer names, so it holds tokens of letters, digits, '-' and '_'
// separated by single dots.
func validateName(kind, name string) error {
	ok := name != ""
	for tok := range strings.SplitSeq(name, ".") {
		ok = ok && validToken(tok)
	}
	if !ok {
		return fmt.Errorf("%w: %s name %q (want dot-separated letters, digits, '-' or '_', e.g. payment.charge)", ErrConfig, kind, name)
	}
	return nil
}

// TokenName turns s into one NATS subject token (and micro endpoint name):
// letters, digits, '-' and '_' stay, anything else becomes '_'.
func TokenName(s string) string {
	return strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' {
			return r
		}
		return '_'
	}, s)
}
