package peer

// WithShutdownObserver calls fn as each shutdown step begins, with the
// step's name.
func WithShutdownObserver(fn func(step string)) Option { return func(o *options) { o.observe = fn } }

// DelayRequests is the middleware behind CATGA_TEST_HANDLER_DELAY.
var DelayRequests = delayRequests

// HandledMetrics is the middleware counting handled messages.
var HandledMetrics = handledMetrics
