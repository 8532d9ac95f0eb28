// Package cli is the catga command-line tool: [Main] runs one command
// line against a running platform, which it reaches the way its peers do
// (CATGA_NATS_URL, CATGA_REDIS_ADDRS, or the flags that override them).
//
// Commands: peers (every running peer, through nats.go/micro discovery),
// sagas list|show|retry|compensate (the saga store's operator API,
// [saga.Operator]), events tail (a JetStream subject through an ordered
// ephemeral consumer, bounded by --count and --since, or following it with
// -f), dlq list|replay (dead letters with their original
// headers). Output is a table for people, JSON with --json for scripts.
//
// Exit codes, which scripts may rely on:
//
//	0  done
//	1  failed: the platform could not be reached or answered with an error
//	2  usage: unknown command or flag, missing or malformed argument
//	3  refused or not found: no such saga or dead letter, the saga's state
//	   does not allow the action, or the confirmation was declined
//
// Retry and compensate hand the saga to the peers' recovery (a new epoch
// that fences out its owner, a lease that has expired): a peer that runs
// the saga's definition claims it within a second or so; --wait waits for
// the outcome.
package cli
