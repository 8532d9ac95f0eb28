// Package fencetest is the conformance suite of saga fences: one set of
// named cases stating the rules of saga.Decide, which every fence passes
// (saga.MemoryFence, redisfence, storefence on PostgreSQL and SQLite). A
// fence's test calls [Run] with a [Harness] giving a fresh [Subject] per
// test. A saga.Fence (Admit, Commit, Abort) is given with [ForFence]: the
// rules are checked through it as the saga guards use it, and so are its
// reservations ([FenceCases]). Fences that apply an effect in their event
// store's transaction also give [Subject.Tx], and the suite then checks
// that effect and fence record commit together or not at all. A fence whose
// Apply may call an effect more than once for one commit (an optimistic
// transaction, as redisfence.Fence.Apply builds) gives [Subject.Committed],
// and the suite counts the effects that committed instead of the calls.
package fencetest
