package sqlmigrate

import (
	"io"
	"io/fs"
	"testing"
	"testing/fstest"
)

func TestTemplateFS(t *testing.T) {
	src := fstest.MapFS{
		"m/000001_init.up.sql":   {Data: []byte("CREATE TABLE {{prefix}}events (); CREATE INDEX i ON {{prefix}}events ();")},
		"m/000001_init.down.sql": {Data: []byte("DROP TABLE {{prefix}}events;")},
	}
	tests := []struct {
		name, prefix, file, want string
	}{
		{name: "schema", prefix: `"orders".`, file: "m/000001_init.up.sql", want: `CREATE TABLE "orders".events (); CREATE INDEX i ON "orders".events ();`},
		{name: "table prefix", prefix: "orders_", file: "m/000001_init.down.sql", want: "DROP TABLE orders_events;"},
		{name: "no prefix", prefix: "", file: "m/000001_init.down.sql", want: "DROP TABLE events;"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fsys := templateFS{fsys: src, prefix: []byte(tt.prefix)}
			f, err := fsys.Open(tt.file)
			if err != nil {
				t.Fatal(err)
			}
			defer func() { _ = f.Close() }()
			b, err := io.ReadAll(f)
			if err != nil || string(b) != tt.want {
				t.Fatalf("got %q, %v; want %q", b, err, tt.want)
			}
			entries, err := fs.ReadDir(fsys, "m")
			if err != nil || len(entries) != 2 {
				t.Fatalf("ReadDir = %v, %v", entries, err)
			}
		})
	}
}
