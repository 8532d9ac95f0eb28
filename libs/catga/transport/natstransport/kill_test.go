package natstransport

// This file is compiled into the package for its tests only: Kill is
// test-only API, not part of what services link.

// Kill closes the connection at once, without draining, as a crashed
// process would.
func (t *Transport) Kill() {
	t.mu.Lock()
	t.isClosing = true
	t.mu.Unlock()
	t.nc.Close()
	<-t.closed
}
