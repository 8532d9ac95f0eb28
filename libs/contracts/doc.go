// Package contracts is the wire contract between the example services: the
// commands one service offers another (routes), the events it publishes
// (topics), the messages themselves and the rejection codes they answer
// with. Both sides import it, and nothing else of each other: a service may
// be rewritten, split or copied as long as it keeps these.
//
// Amounts are integer cents; quantities are whole units. Changing a field's
// name or meaning here is a breaking change on the wire: add fields instead,
// and keep the JSON names.
package contracts
