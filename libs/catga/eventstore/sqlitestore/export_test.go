package sqlitestore

// GateWaiting is how many writes of s wait for its write gate.
func GateWaiting(s *Store) int64 { return s.gate.waiting.Load() }
