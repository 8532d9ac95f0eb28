// Package httpapi is the JSON-over-HTTP edge of a Catga service: strict
// request decoding and one error format.
//
// [Decode] reads a request body of a bounded size into a typed value and
// refuses what a lenient decoder would silently accept: unknown fields
// (named in the error), trailing data, a wrong JSON type (the field named).
// [Handler] adapts handlers that return errors and turns each error into
// one JSON body,
//
//	{"error":{"code":"insufficient_funds","message":"balance 300 < 500","field":"amount"}}
//
// with a status that follows from the error: an [*Error] carries its own,
// a domain rejection is 409 (or 422), a missing resource 404, anything
// unexpected a logged 500 whose body tells nothing about the internals.
package httpapi
