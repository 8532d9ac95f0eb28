package console

// Human is human, for tests.
var Human = human
