// Package inbox makes a consumer apply each message once: [Inbox.Process]
// records (consumer, message id) in the transaction of the message's
// effect, so a redelivered message finds the record and is acknowledged
// without running its effect again.
//
// [Handler] puts an inbox in front of a transport consumer
// (transport.Transport.Consume): it is one more durable handler, so a
// message it cannot apply goes to the consumer's dead-letter subject with
// the reason, like every other. [JetStreamHandler] does the same for a
// consumer reading JetStream directly, redelivering retryable failures
// after an exponential delay. Effects run with a timeout and stop at
// shutdown ([WithShutdown]); [RunPruner] keeps the inbox from growing
// forever.
package inbox
