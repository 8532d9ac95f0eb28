package outbox_test

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/catga-go/catga/libs/catga/eventstore"
	"github.com/catga-go/catga/libs/catga/eventstore/eventstoretest"
	"github.com/catga-go/catga/libs/catga/eventstore/pgstore"
	"github.com/catga-go/catga/libs/catga/eventstore/sqlitestore"
	"github.com/catga-go/catga/libs/catga/inbox"
	"github.com/catga-go/catga/libs/catga/internal/natstest"
	"github.com/catga-go/catga/libs/catga/internal/pgtest"
	"github.com/catga-go/catga/libs/catga/natsembed"
	"github.com/catga-go/catga/libs/catga/outbox"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// peer is what one service instance holds: its store (event store and
// outbox source).
type peer interface {
	eventstore.Store
	eventstore.Outbox
}

// backend opens peers on one database per test.
type backend struct {
	name string
	db   func(t *testing.T) func(t *testing.T) peer
}

func backends() []backend {
	return []backend{
		{name: "postgres", db: func(t *testing.T) func(t *testing.T) peer {
			url := pgtest.URL(t)
			return func(t *testing.T) peer {
				s, err := pgstore.New(ctxT(t), pgtest.NewPool(t, url), eventstoretest.NewRegistry(), pgstore.WithSchema("orders"))
				if err != nil {
					t.Fatal(err)
				}
				return s
			}
		}},
		{name: "sqlite", db: func(t *testing.T) func(t *testing.T) peer {
			path := filepath.Join(t.TempDir(), "orders.db")
			return func(t *testing.T) peer {
				s, err := sqlitestore.Open(ctxT(t), path, eventstoretest.NewRegistry())
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { _ = s.Close() })
				return s
			}
		}},
	}
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// startNATS runs an embedded JetStream server with an EVENTS stream that
// captures events.> and deduplicates by Nats-Msg-Id for a minute.
func startNATS(t *testing.T) (*natsembed.Server, jetstream.Stream) {
	t.Helper()
	srv, _, js := natstest.JetStream(t)
	stream, err := js.CreateStream(ctxT(t), jetstream.StreamConfig{Name: "EVENTS", Subjects: []string{"events.>"}, Duplicates: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	return srv, stream
}

// connect is one relay's own connection to srv.
func connect(t *testing.T, srv *natsembed.Server) jetstream.JetStream {
	t.Helper()
	_, js := natstest.Connect(t, srv)
	return js
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func streamMsgs(t *testing.T, s jetstream.Stream) uint64 {
	info, err := s.Info(ctxT(t))
	if err != nil {
		t.Fatal(err)
	}
	return info.State.Msgs
}

// runRelay runs r until the test ends, and waits for it.
func runRelay(t *testing.T, r *outbox.Relay) {
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() {
		if err := r.Run(ctx); err != nil {
			t.Errorf("relay: %v", err)
		}
	})
	t.Cleanup(func() { cancel(); wg.Wait() })
}

func assertOutboxEmpty(t *testing.T, ob eventstore.Outbox) {
	t.Helper()
	_, err := ob.Claim(ctxT(t), "checker", 100, func(_ context.Context, recs []eventstore.Record) ([]int64, error) {
		t.Errorf("outbox still holds %d entries", len(recs))
		return nil, nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestTwoRelays: two peers append concurrently while a relay on each
// publishes; every event reaches JetStream once, each stream in order.
func TestTwoRelays(t *testing.T) {
	for _, b := range backends() {
		t.Run(b.name, func(t *testing.T) {
			open := b.db(t)
			srv, stream := startNATS(t)
			peers := []peer{open(t), open(t)}
			var relays []*outbox.Relay
			for i, p := range peers {
				r, err := outbox.NewRelay(p, connect(t, srv), outbox.WithName(fmt.Sprintf("relay-%d", i)),
					outbox.WithPollInterval(100*time.Millisecond), outbox.WithBatchSize(16))
				if err != nil {
					t.Fatal(err)
				}
				relays = append(relays, r)
				runRelay(t, r)
			}
			const streams, perStream = 8, 12
			var wg sync.WaitGroup
			for s := range streams {
				wg.Go(func() {
					id := fmt.Sprintf("order-%d", s)
					for v := int64(0); v < perStream; {
						n := 1 + v%3%2 // batches of 1 and 2
						evs := make([]eventstore.Event, n)
						for i := range evs {
							evs[i] = eventstore.Event{Data: eventstoretest.Deposited{Amount: int(v) + i + 1}}
						}
						if _, err := peers[(s+int(v))%2].Append(ctxT(t), id, v, evs); err != nil {
							t.Errorf("append %s@%d: %v", id, v, err)
							return
						}
						v += n
					}
				})
			}
			wg.Wait()
			const total = streams * perStream
			waitFor(t, "all events in JetStream", func() bool { return streamMsgs(t, stream) >= total })
			waitFor(t, "relays to mark everything", func() bool {
				return relays[0].Stats().Published+relays[1].Stats().Published >= total
			})
			for i, r := range relays {
				st := r.Stats()
				t.Logf("relay %d: %+v", i, st)
				if st.Duplicates != 0 {
					t.Errorf("relay %d republished %d events: relays did not cooperate", i, st.Duplicates)
				}
			}
			if got := streamMsgs(t, stream); got != total {
				t.Fatalf("JetStream holds %d messages, want %d", got, total)
			}
			last := map[string]int64{}
			seen := map[string]bool{}
			for seq := uint64(1); seq <= total; seq++ {
				m, err := stream.GetMsg(ctxT(t), seq)
				if err != nil {
					t.Fatal(err)
				}
				id, sid := m.Header.Get(jetstream.MsgIDHeader), m.Header.Get(inbox.HeaderStream)
				ver, err := strconv.ParseInt(m.Header.Get(inbox.HeaderVersion), 10, 64)
				if err != nil || id == "" || seen[id] {
					t.Fatalf("message %d: id %q (seen %v), version %v", seq, id, seen[id], err)
				}
				seen[id] = true
				if ver != last[sid]+1 {
					t.Fatalf("stream %s: version %d published after %d", sid, ver, last[sid])
				}
				last[sid] = ver
				if m.Subject != "events.test.deposited" || m.Header.Get(inbox.HeaderEventType) != "test.deposited" {
					t.Fatalf("message %d: subject %q type %q", seq, m.Subject, m.Header.Get(inbox.HeaderEventType))
				}
				if want := fmt.Sprintf(`{"Amount":%d}`, ver); string(m.Data) != want {
					t.Fatalf("message %d data %s, want %s", seq, m.Data, want)
				}
			}
			assertOutboxEmpty(t, peers[0])
		})
	}
}

// killedSource is a relay's view of a store for a relay that dies after
// JetStream acknowledged the events but before it marked them: the publish
// happens, the mark never does.
type killedSource struct {
	eventstore.Outbox
}

var errKilled = errors.New("relay killed between publish and mark")

func (k killedSource) Claim(ctx context.Context, owner string, limit int, publish func(context.Context, []eventstore.Record) ([]int64, error)) (int, error) {
	return k.Outbox.Claim(ctx, owner, limit, func(ctx context.Context, recs []eventstore.Record) ([]int64, error) {
		if _, err := publish(ctx, recs); err != nil {
			return nil, err
		}
		return nil, errKilled
	})
}

// TestRelayKilledBetweenPublishAndMark: the entries stay pending, the next
// relay publishes them again and JetStream drops the copies.
func TestRelayKilledBetweenPublishAndMark(t *testing.T) {
	for _, b := range backends() {
		t.Run(b.name, func(t *testing.T) {
			store := b.db(t)(t)
			srv, stream := startNATS(t)
			for _, id := range []string{"a", "b"} {
				if _, err := store.Append(ctxT(t), id, eventstore.NoStream, []eventstore.Event{
					{Data: eventstoretest.Opened{}}, {Data: eventstoretest.Deposited{Amount: 1}}, {Data: eventstoretest.Deposited{Amount: 2}},
				}); err != nil {
					t.Fatal(err)
				}
			}
			dying, err := outbox.NewRelay(killedSource{store}, connect(t, srv), outbox.WithName("dying"))
			if err != nil {
				t.Fatal(err)
			}
			if err := dying.Drain(ctxT(t)); !errors.Is(err, errKilled) {
				t.Fatalf("dying relay: err = %v, want %v", err, errKilled)
			}
			if st := dying.Stats(); st.Published != 6 {
				t.Fatalf("dying relay published %d, want 6", st.Published)
			}
			next, err := outbox.NewRelay(store, connect(t, srv), outbox.WithName("next"))
			if err != nil {
				t.Fatal(err)
			}
			if err := next.Drain(ctxT(t)); err != nil {
				t.Fatal(err)
			}
			if st := next.Stats(); st.Duplicates != 6 || st.Published != 0 {
				t.Fatalf("next relay stats %+v, want 6 duplicates and nothing new", st)
			}
			if got := streamMsgs(t, stream); got != 6 {
				t.Fatalf("JetStream holds %d messages, want 6", got)
			}
			assertOutboxEmpty(t, store)
		})
	}
}

// TestRelayWokenByCommit: with a fallback poll of an hour, an event appended
// while the relay idles can only arrive through the commit wake-up.
func TestRelayWokenByCommit(t *testing.T) {
	for _, b := range backends() {
		t.Run(b.name, func(t *testing.T) {
			store := b.db(t)(t)
			srv, stream := startNATS(t)
			r, err := outbox.NewRelay(store, connect(t, srv), outbox.WithPollInterval(time.Hour))
			if err != nil {
				t.Fatal(err)
			}
			if _, err := store.Append(ctxT(t), "w", eventstore.NoStream, []eventstore.Event{{Data: eventstoretest.Opened{}}}); err != nil {
				t.Fatal(err)
			}
			runRelay(t, r)
			waitFor(t, "the event appended before start", func() bool { return r.Stats().Published == 1 })
			for v := int64(1); v <= 3; v++ {
				if _, err := store.Append(ctxT(t), "w", v, []eventstore.Event{{Data: eventstoretest.Deposited{Amount: int(v)}}}); err != nil {
					t.Fatal(err)
				}
				waitFor(t, "the event appended while idle", func() bool { return r.Stats().Published == uint64(v)+1 })
			}
			if got := streamMsgs(t, stream); got != 4 {
				t.Fatalf("JetStream holds %d messages, want 4", got)
			}
		})
	}
}

// TestPublishFailureKeepsPending: with no stream capturing the subject,
// JetStream refuses; nothing is marked, and the events go out once the
// stream exists.
func TestPublishFailureKeepsPending(t *testing.T) {
	store := backends()[1].db(t)(t)
	srv, stream := startNATS(t)
	js := connect(t, srv)
	r, err := outbox.NewRelay(store, js, outbox.WithPublishTimeout(2*time.Second),
		outbox.WithSubject(func(rec eventstore.Record) string { return "nowhere." + rec.Type }))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := store.Append(ctxT(t), "f", eventstore.NoStream, []eventstore.Event{{Data: eventstoretest.Opened{}}, {Data: eventstoretest.Deposited{}}}); err != nil {
		t.Fatal(err)
	}
	if err := r.Drain(ctxT(t)); !errors.Is(err, outbox.ErrPublish) {
		t.Fatalf("drain: err = %v, want ErrPublish", err)
	}
	if st := r.Stats(); st.Failed != 1 || st.Published != 0 {
		t.Fatalf("stats %+v: want the first event failed and the second never sent", st)
	}
	r2, err := outbox.NewRelay(store, js)
	if err != nil {
		t.Fatal(err)
	}
	if err := r2.Drain(ctxT(t)); err != nil {
		t.Fatal(err)
	}
	if got := streamMsgs(t, stream); got != 2 {
		t.Fatalf("JetStream holds %d messages, want 2", got)
	}
}

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		name string
		opt  outbox.Option
	}{
		{name: "nil subject", opt: outbox.WithSubject(nil)},
		{name: "zero batch", opt: outbox.WithBatchSize(0)},
		{name: "zero poll", opt: outbox.WithPollInterval(0)},
		{name: "zero publish timeout", opt: outbox.WithPublishTimeout(0)},
		{name: "empty name", opt: outbox.WithName("")},
		{name: "nil logger", opt: outbox.WithLogger(nil)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := outbox.NewRelay(nil, nil, tt.opt); err == nil {
				t.Fatal("accepted")
			}
		})
	}
}
