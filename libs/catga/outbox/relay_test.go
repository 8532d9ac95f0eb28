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

	"github.com/jackc/pgx/v5/pgxpool"
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
	"github.com/catga-go/catga/libs/catga/transport/natstransport"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// peer is what one service instance holds: its store (event store and
// outbox source).
type peer interface {
	eventstore.Store
	eventstore.Outbox
	eventstore.OutboxInspector
}

// backend opens peers on one database per test.
type backend struct {
	name string
	db   func(t *testing.T) func(t *testing.T, reg *eventstore.Registry) peer
	// sharedWake: a commit through one store value wakes relays on
	// another (PostgreSQL NOTIFY); SQLite wakes only its own.
	sharedWake bool
}

func backends() []backend {
	return []backend{
		{name: "postgres", sharedWake: true, db: func(t *testing.T) func(t *testing.T, reg *eventstore.Registry) peer {
			url := pgtest.URL(t)
			return func(t *testing.T, reg *eventstore.Registry) peer {
				s, err := pgstore.New(ctxT(t), pgtest.NewPool(t, url), reg, pgstore.WithSchema("orders"))
				if err != nil {
					t.Fatal(err)
				}
				return s
			}
		}},
		{name: "sqlite", db: func(t *testing.T) func(t *testing.T, reg *eventstore.Registry) peer {
			path := filepath.Join(t.TempDir(), "orders.db")
			return func(t *testing.T, reg *eventstore.Registry) peer {
				s, err := sqlitestore.Open(ctxT(t), path, reg)
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

// startNATS runs an embedded JetStream server with the transport's event
// stream (catga.evt.>, catga.dlq.>), deduplicating by Nats-Msg-Id.
func startNATS(t *testing.T) (*natsembed.Server, jetstream.Stream) {
	t.Helper()
	srv, _, js := natstest.JetStream(t)
	stream, err := js.CreateStream(ctxT(t), jetstream.StreamConfig{
		Name: "CATGA_EVENTS", Subjects: []string{"catga.evt.>", "catga.dlq.>"}, Duplicates: 2 * time.Minute, Storage: jetstream.FileStorage,
	})
	if err != nil {
		t.Fatal(err)
	}
	return srv, stream
}

// connect is one peer's own transport to srv.
func connect(t *testing.T, srv *natsembed.Server) *natstransport.Transport {
	t.Helper()
	tr, err := natstransport.Connect(natstransport.Config{URLs: []string{srv.ClientURL()}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = tr.Close() })
	return tr
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

func assertOutboxEmpty(t *testing.T, ob peer) {
	t.Helper()
	st, err := ob.OutboxStats(ctxT(t))
	if err != nil {
		t.Fatal(err)
	}
	if st.Pending != 0 || st.Parked != 0 {
		t.Errorf("outbox still holds %+v", st)
	}
}

// TestTwoRelays: two peers append concurrently while a relay on each
// publishes; every event reaches JetStream once, each stream in order.
func TestTwoRelays(t *testing.T) {
	for _, b := range backends() {
		t.Run(b.name, func(t *testing.T) {
			open := b.db(t)
			srv, stream := startNATS(t)
			peers := []peer{open(t, eventstoretest.NewRegistry()), open(t, eventstoretest.NewRegistry())}
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
				st, err := peers[0].OutboxStats(ctxT(t))
				return err == nil && st.Pending == 0
			})
			if sum := relays[0].Stats().Published + relays[1].Stats().Published; sum != total {
				t.Errorf("relays published %d times for %d events: they did not cooperate", sum, total)
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
				if m.Subject != "catga.evt.test.deposited" || m.Header.Get(inbox.HeaderEventType) != "test.deposited" {
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

func (k killedSource) Claim(ctx context.Context, owner string, limit int, publish eventstore.PublishFunc) (eventstore.ClaimResult, error) {
	return k.Outbox.Claim(ctx, owner, limit, func(ctx context.Context, entries []eventstore.Pending) (eventstore.Outcome, error) {
		if _, err := publish(ctx, entries); err != nil {
			return eventstore.Outcome{}, err
		}
		return eventstore.Outcome{}, errKilled
	})
}

// TestRelayKilledBetweenPublishAndMark: the entries stay pending, the next
// relay publishes them again and JetStream drops the copies.
func TestRelayKilledBetweenPublishAndMark(t *testing.T) {
	for _, b := range backends() {
		t.Run(b.name, func(t *testing.T) {
			store := b.db(t)(t, eventstoretest.NewRegistry())
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
			if st := next.Stats(); st.Published != 6 {
				t.Fatalf("next relay stats %+v, want the 6 events published again", st)
			}
			if got := streamMsgs(t, stream); got != 6 {
				t.Fatalf("JetStream holds %d messages, want 6", got)
			}
			assertOutboxEmpty(t, store)
		})
	}
}

// TestRelayWokenByCommit: with a fallback poll of an hour, an event appended
// while the relay idles can only arrive through the commit wake-up: in
// process for the relay's own store, by the debounced NOTIFY for a relay on
// another peer, and still after that relay's LISTEN connection was killed.
func TestRelayWokenByCommit(t *testing.T) {
	for _, b := range backends() {
		t.Run(b.name, func(t *testing.T) {
			open := b.db(t)
			store := open(t, eventstoretest.NewRegistry())
			relayStore := store
			if b.sharedWake {
				relayStore = open(t, eventstoretest.NewRegistry()) // another peer
			}
			srv, stream := startNATS(t)
			r, err := outbox.NewRelay(relayStore, connect(t, srv), outbox.WithPollInterval(time.Hour), outbox.WithRetry(10*time.Millisecond, 50*time.Millisecond))
			if err != nil {
				t.Fatal(err)
			}
			if _, err := store.Append(ctxT(t), "w", eventstore.NoStream, []eventstore.Event{{Data: eventstoretest.Opened{}}}); err != nil {
				t.Fatal(err)
			}
			runRelay(t, r)
			waitFor(t, "the event appended before start", func() bool { return r.Stats().Published == 1 })
			v := int64(1)
			appendIdle := func(from peer) {
				t.Helper()
				if _, err := from.Append(ctxT(t), "w", v, []eventstore.Event{{Data: eventstoretest.Deposited{Amount: int(v)}}}); err != nil {
					t.Fatal(err)
				}
				v++
				waitFor(t, "the event appended while idle", func() bool { return r.Stats().Published == uint64(v) })
			}
			for range 2 {
				appendIdle(store)
				appendIdle(relayStore)
			}
			if b.sharedWake {
				// Kill the relay's LISTEN connection: the relay notices, listens
				// again, and the next commit on the other peer still wakes it.
				killListener(t, relayStore.(*pgstore.Store).Pool())
				appendIdle(store)
				appendIdle(store)
			}
			if got := streamMsgs(t, stream); got != uint64(v) {
				t.Fatalf("JetStream holds %d messages, want %d", got, v)
			}
		})
	}
}

// killListener terminates the backend of the one LISTEN connection on pool's
// database and waits until a new one is listening.
func killListener(t *testing.T, pool *pgxpool.Pool) {
	t.Helper()
	const listeners = `SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND query LIKE 'LISTEN %' AND state = 'idle'`
	var pid int
	if err := pool.QueryRow(ctxT(t), listeners).Scan(&pid); err != nil {
		t.Fatalf("find the listener: %v", err)
	}
	if _, err := pool.Exec(ctxT(t), `SELECT pg_terminate_backend($1)`, pid); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the relay to listen again", func() bool {
		var again int
		err := pool.QueryRow(ctxT(t), listeners+` AND pid <> $1`, pid).Scan(&again)
		return err == nil
	})
}

// TestPublishFailureKeepsPending: with no stream capturing the subject,
// the broker refuses; nothing is marked, the stream is held, and the events
// go out in order once a relay publishes where a stream captures them.
func TestPublishFailureKeepsPending(t *testing.T) {
	for _, b := range backends() {
		t.Run(b.name, func(t *testing.T) {
			store := b.db(t)(t, eventstoretest.NewRegistry())
			srv, stream := startNATS(t)
			tr := connect(t, srv)
			r, err := outbox.NewRelay(store, tr, outbox.WithPublishTimeout(2*time.Second), outbox.WithRetry(3*time.Second, 3*time.Second),
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
			if st := r.Stats(); st.Failed != 1 || st.Published != 0 || st.Parked != 0 {
				t.Fatalf("stats %+v: want the first event failed and the second never sent", st)
			}
			if st, err := store.OutboxStats(ctxT(t)); err != nil || st.Pending != 2 || st.Held != 1 {
				t.Fatalf("outbox %+v, %v: want both pending, the head held", st, err)
			}
			r2, err := outbox.NewRelay(store, tr)
			if err != nil {
				t.Fatal(err)
			}
			waitFor(t, "the held stream to be published", func() bool {
				if err := r2.Drain(ctxT(t)); err != nil {
					t.Fatal(err)
				}
				return streamMsgs(t, stream) == 2
			})
			for seq, want := range []string{"catga.evt.test.opened", "catga.evt.test.deposited"} {
				m, err := stream.GetMsg(ctxT(t), uint64(seq)+1)
				if err != nil || m.Subject != want {
					t.Fatalf("message %d: %v, %v; want %s", seq+1, m, err, want)
				}
			}
			assertOutboxEmpty(t, store)
		})
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
		{name: "zero max attempts", opt: outbox.WithMaxAttempts(0)},
		{name: "retry max below initial", opt: outbox.WithRetry(time.Second, time.Millisecond)},
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
