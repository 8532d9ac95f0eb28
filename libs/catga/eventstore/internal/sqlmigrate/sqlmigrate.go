// Package sqlmigrate runs golang-migrate over embedded SQL files whose text
// names the service's schema or table prefix through a placeholder, so one
// set of files serves every service that owns its own schema.
package sqlmigrate

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"time"

	"github.com/golang-migrate/migrate/v4"
	"github.com/golang-migrate/migrate/v4/database"
	"github.com/golang-migrate/migrate/v4/source/iofs"
)

// Placeholder is replaced in every migration file by the value given to Up.
const Placeholder = "{{prefix}}"

// FS returns the migrations in dir of fsys, at the root of the returned
// file system, with Placeholder replaced by prefix: a source for
// golang-migrate (source/iofs) or any other tool.
func FS(fsys fs.FS, dir, prefix string) (fs.FS, error) {
	return fs.Sub(templateFS{fsys: fsys, prefix: []byte(prefix)}, dir)
}

// Up applies every migration in dir of fsys through driver, with Placeholder
// replaced by prefix, waiting up to lockTimeout for another migrator's lock.
// Already applied migrations are skipped. A migration that fails leaves the
// version marked dirty; the error says how to recover.
func Up(fsys fs.FS, dir, prefix string, driver database.Driver, dbName string, lockTimeout time.Duration) error {
	src, err := iofs.New(templateFS{fsys: fsys, prefix: []byte(prefix)}, dir)
	if err != nil {
		return fmt.Errorf("catga: eventstore: migration source: %w", err)
	}
	m, err := migrate.NewWithInstance("iofs", src, dbName, driver)
	if err != nil {
		return fmt.Errorf("catga: eventstore: migrate: %w", err)
	}
	m.LockTimeout = lockTimeout
	if err := m.Up(); err != nil && !errors.Is(err, migrate.ErrNoChange) {
		var dirty migrate.ErrDirty
		if errors.As(err, &dirty) {
			return fmt.Errorf("catga: eventstore: migration %d failed earlier and left the schema dirty: "+
				"repair the schema by hand to the state of version %d, mark that version clean (golang-migrate force %d, "+
				"over the store's MigrationFS), then start again: %w", dirty.Version, dirty.Version-1, dirty.Version-1, err)
		}
		return fmt.Errorf("catga: eventstore: migrate up: %w", err)
	}
	return nil
}

// templateFS substitutes the placeholder in the files it opens.
type templateFS struct {
	fsys   fs.FS
	prefix []byte
}

func (t templateFS) ReadDir(name string) ([]fs.DirEntry, error) { return fs.ReadDir(t.fsys, name) }

func (t templateFS) Open(name string) (fs.File, error) {
	f, err := t.fsys.Open(name)
	if err != nil {
		return nil, err
	}
	st, err := f.Stat()
	if err != nil || st.IsDir() {
		return f, err
	}
	defer func() { _ = f.Close() }()
	b, err := io.ReadAll(f)
	if err != nil {
		return nil, err
	}
	return &memFile{Reader: bytes.NewReader(bytes.ReplaceAll(b, []byte(Placeholder), t.prefix)), info: st}, nil
}

type memFile struct {
	*bytes.Reader
	info fs.FileInfo
}

func (f *memFile) Stat() (fs.FileInfo, error) { return f.info, nil }
func (f *memFile) Close() error               { return nil }
