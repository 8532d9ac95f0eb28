//go:build !unix

package sqlitestore

import "sync"

var migrateMu sync.Mutex

// lockFile falls back to a process-wide lock where flock is unavailable:
// concurrent starters in one process are still serialised.
func lockFile(string) (func(), error) {
	migrateMu.Lock()
	return migrateMu.Unlock, nil
}
