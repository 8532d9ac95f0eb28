package service_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/catga-go/catga/libs/catga/peer/peertest"
	"github.com/catga-go/catga/libs/catga/transport"
	"github.com/catga-go/catga/libs/contracts"
)

func TestMain(m *testing.M) { peertest.Main(m) }

// env is two notification peers (processes) over one event store (a
// SQLite file, or PostgreSQL) and an embedded NATS server; the order events are published on JetStream as
// the order service's outbox publishes them, and notifications go to a
// webhook the test controls.
type env struct {
	top   *testing.T // peers live as long as it
	nats  *nats.Conn
	js    jetstream.JetStream
	url   string
	bin   string
	vars  []string
	peers []*peertest.Process
	hook  *webhook
}

func TestNotificationService(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the service and runs two peers as processes; skipped in -short mode")
	}
	stores := []struct {
		name string
		env  func(t *testing.T) []string
	}{
		{"sqlite", func(t *testing.T) []string {
			return []string{"CATGA_SQLITE_PATH=" + filepath.Join(t.TempDir(), "notification.db")}
		}},
		{"postgres", func(t *testing.T) []string { return []string{"CATGA_DATABASE_URL=" + peertest.PostgresURL(t)} }},
	}
	for _, st := range stores {
		t.Run(st.name, func(t *testing.T) {
			ns := peertest.NATS(t)
			e := &env{top: t, url: ns.ClientURL(), bin: peertest.Build(t, ".."), hook: newWebhook(t)}
			e.vars = append(st.env(t), "CATGA_WEBHOOK_URL="+e.hook.URL)
			e.peers = e.start(0, 1)
			nc, err := nats.Connect(e.url)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(nc.Close)
			e.nats = nc
			if e.js, err = jetstream.New(nc); err != nil {
				t.Fatal(err)
			}
			t.Run("recorded and sent once, redeliveries ignored", e.testOnce)
			t.Run("cancelled, with the reason", e.testCancelled)
			t.Run("webhook failing, then recovering", e.testWebhookRecovers)
			t.Run("peers killed while sending", e.testKilledWhileSending)
			t.Run("bad input", e.testBadInput)
		})
	}
}

// start starts peers, numbered as given, that run until the whole test
// ends.
func (e *env) start(numbers ...int) []*peertest.Process {
	var ps []*peertest.Process
	for _, n := range numbers {
		ps = append(ps, peertest.Start(e.top, e.bin, peertest.Options{NATSURL: e.url, Env: e.vars, Name: fmt.Sprintf("notification-%d", n), StopTimeout: 10 * time.Second}))
	}
	return ps
}

// publish stores ev on topic's subject as the order service's outbox
// would: the event id as the message id. natsID is the JetStream
// deduplication id, which a republish after the duplicate window (or a
// second relay) would not share.
func publish[E any](t *testing.T, e *env, topic transport.Topic[E], eventID, natsID string, ev E) {
	t.Helper()
	body, err := json.Marshal(ev)
	if err != nil {
		t.Fatal(err)
	}
	msg := nats.NewMsg(topic.Subject())
	msg.Data = body
	msg.Header.Set(transport.HeaderContentType, "application/json")
	msg.Header.Set(transport.HeaderNatsMsgID, natsID)
	msg.Header.Set(transport.HeaderMsgID, eventID)
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	if _, err := e.js.PublishMsg(ctx, msg); err != nil {
		t.Fatal(err)
	}
}

// drained waits until the service's consumer of topic has handled
// everything published on it.
func drained[E any](t *testing.T, e *env, topic transport.Topic[E]) {
	t.Helper()
	peertest.Eventually(t, 30*time.Second, "consumer of "+topic.Name()+" drained", func() bool {
		ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
		defer cancel()
		c, err := e.js.Consumer(ctx, "CATGA_EVENTS", topic.Consumer("notification"))
		if err != nil {
			return false
		}
		info, err := c.Info(ctx)
		return err == nil && info.NumPending == 0 && info.NumAckPending == 0
	})
}

type note struct {
	ID      string `json:"id"`
	OrderID string `json:"order_id"`
	Kind    string `json:"kind"`
	Reason  string `json:"reason"`
	Total   int64  `json:"total"`
	Message string `json:"message"`
}

// list returns what peer i lists for order.
func (e *env) list(t *testing.T, i int, order string) []note {
	t.Helper()
	var out struct {
		Notifications []note `json:"notifications"`
	}
	status, raw := e.peers[i].Client().Do(t, "GET", "/notifications?order="+order, "")
	if status != http.StatusOK || json.Unmarshal(raw, &out) != nil {
		t.Fatalf("GET notifications of %s: %d %s", order, status, raw)
	}
	return out.Notifications
}

// one checks that every peer lists exactly one notification for order,
// and that the webhook got that one (keyed by its id), and returns it.
func (e *env) one(t *testing.T, order string) note {
	t.Helper()
	var n note
	for i := range e.peers {
		ns := e.list(t, i, order)
		if len(ns) != 1 {
			t.Fatalf("peer %d lists %d notifications for %s, want 1: %+v", i, len(ns), order, ns)
		}
		n = ns[0]
	}
	keys := e.hook.delivered(order)
	if len(keys) != 1 || keys[0] != n.ID {
		t.Fatalf("webhook got notifications %v for %s, want exactly [%s]", keys, order, n.ID)
	}
	return n
}

func (e *env) testOnce(t *testing.T) {
	ev := contracts.OrderCompleted{OrderID: "order-once", Customer: "alice", Total: 2500, CompletedAt: time.Now().UTC()}
	// The same event three times, as a relay that died before marking it
	// published would republish it, past JetStream's deduplication.
	for i := range 3 {
		publish(t, e, contracts.OrderCompletedTopic, "ev-once", fmt.Sprintf("nats-once-%d", i), ev)
	}
	peertest.Eventually(t, 20*time.Second, "the notification is sent", func() bool { return len(e.hook.delivered(ev.OrderID)) > 0 })
	drained(t, e, contracts.OrderCompletedTopic)
	n := e.one(t, ev.OrderID)
	if n.Kind != "order_completed" || n.Total != 2500 || !strings.Contains(n.Message, "$25.00") {
		t.Fatalf("notification %+v", n)
	}
}

func (e *env) testCancelled(t *testing.T) {
	ev := contracts.OrderCancelled{OrderID: "order-cancelled", Customer: "bob", Reason: contracts.CodeOutOfStock, CancelledAt: time.Now().UTC()}
	publish(t, e, contracts.OrderCancelledTopic, "ev-cancelled", "nats-cancelled", ev)
	peertest.Eventually(t, 20*time.Second, "the notification is sent", func() bool { return len(e.hook.delivered(ev.OrderID)) > 0 })
	n := e.one(t, ev.OrderID)
	if n.Kind != "order_cancelled" || n.Reason != contracts.CodeOutOfStock {
		t.Fatalf("notification %+v", n)
	}
}

func (e *env) testWebhookRecovers(t *testing.T) {
	const order = "order-flaky"
	e.hook.failFirst(order, 6) // more than one delivery's attempts
	publish(t, e, contracts.OrderCompletedTopic, "ev-flaky", "nats-flaky", contracts.OrderCompleted{OrderID: order, Customer: "carol", Total: 1})
	peertest.Eventually(t, 60*time.Second, "the notification gets through", func() bool { return len(e.hook.delivered(order)) > 0 })
	e.one(t, order)
	if posts := e.hook.posts(order); posts < 7 {
		t.Fatalf("%d posts, want 6 refused and then one accepted", posts)
	}
}

// Both peers die (SIGKILL) while the webhook holds the send: the
// notification is recorded, not yet sent. New peers send it.
func (e *env) testKilledWhileSending(t *testing.T) {
	const order = "order-killed"
	release := e.hook.hang(order)
	publish(t, e, contracts.OrderCompletedTopic, "ev-killed", "nats-killed", contracts.OrderCompleted{OrderID: order, Customer: "dave", Total: 1})
	peertest.Eventually(t, 20*time.Second, "the send reaches the webhook", func() bool { return e.hook.posts(order) > 0 })
	for _, p := range e.peers {
		p.Kill()
	}
	release()
	e.peers = e.start(2, 3)
	peertest.Eventually(t, 90*time.Second, "a new peer sends the notification", func() bool { return len(e.hook.delivered(order)) > 0 })
	e.one(t, order)
}

func (e *env) testBadInput(t *testing.T) {
	tests := []struct {
		name  string
		query string
		field string
	}{
		{"no order", "", "order"},
		{"empty order", "?order=", "order"},
		{"order twice", "?order=a&order=b", "order"},
		{"order too long", "?order=" + strings.Repeat("o", 129), "order"},
		{"unknown parameter", "?order=a&limit=3", "limit"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, raw := e.peers[0].Client().Do(t, "GET", "/notifications"+tt.query, "")
			var body struct {
				Error struct{ Code, Message, Field string } `json:"error"`
			}
			if status != http.StatusBadRequest || json.Unmarshal(raw, &body) != nil || body.Error.Field != tt.field {
				t.Fatalf("GET %s = %d %s, want 400 naming %s", tt.query, status, raw, tt.field)
			}
		})
	}
	if ns := e.list(t, 0, "never-ordered"); len(ns) != 0 {
		t.Fatalf("an order without notifications lists %+v", ns)
	}
}

// webhook is a notification receiver whose answers the test sets per
// order: accept (204), refuse the first n posts (503), or hang.
type webhook struct {
	*httptest.Server
	mu       sync.Mutex
	count    map[string]int             // by order
	accepted map[string]map[string]bool // by order, by idempotency key
	refuse   map[string]int             // by order: posts left to refuse
	hangs    map[string]chan struct{}   // by order: closed to stop hanging
}

func newWebhook(t *testing.T) *webhook {
	w := &webhook{count: map[string]int{}, accepted: map[string]map[string]bool{}, refuse: map[string]int{}, hangs: map[string]chan struct{}{}}
	w.Server = httptest.NewServer(http.HandlerFunc(w.serve))
	t.Cleanup(func() {
		w.mu.Lock()
		for _, c := range w.hangs {
			select {
			case <-c:
			default:
				close(c)
			}
		}
		w.mu.Unlock()
		w.Close()
	})
	return w
}

func (w *webhook) serve(rw http.ResponseWriter, r *http.Request) {
	var n note
	if err := json.NewDecoder(r.Body).Decode(&n); err != nil || r.Header.Get("Idempotency-Key") != n.ID {
		rw.WriteHeader(http.StatusBadRequest)
		return
	}
	w.mu.Lock()
	w.count[n.OrderID]++
	hang := w.hangs[n.OrderID]
	refuse := w.refuse[n.OrderID] > 0
	if refuse {
		w.refuse[n.OrderID]--
	}
	w.mu.Unlock()
	if hang != nil {
		select {
		case <-hang:
		case <-r.Context().Done():
			return
		}
		rw.WriteHeader(http.StatusServiceUnavailable) // the answer of a held send never counts
		return
	}
	if refuse {
		rw.WriteHeader(http.StatusServiceUnavailable)
		return
	}
	w.mu.Lock()
	if w.accepted[n.OrderID] == nil {
		w.accepted[n.OrderID] = map[string]bool{}
	}
	w.accepted[n.OrderID][n.ID] = true
	w.mu.Unlock()
	rw.WriteHeader(http.StatusNoContent)
}

// delivered returns the ids of the notifications accepted for order.
func (w *webhook) delivered(order string) []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	var ids []string
	for id := range w.accepted[order] {
		ids = append(ids, id)
	}
	return ids
}

func (w *webhook) posts(order string) int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.count[order]
}

func (w *webhook) failFirst(order string, n int) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.refuse[order] = n
}

// hang holds the posts for order until the returned function is called;
// from then on they are accepted.
func (w *webhook) hang(order string) (release func()) {
	c := make(chan struct{})
	w.mu.Lock()
	w.hangs[order] = c
	w.mu.Unlock()
	return func() {
		w.mu.Lock()
		defer w.mu.Unlock()
		delete(w.hangs, order)
		close(c)
	}
}

// A webhook URL that is not one stops the peer at start-up, naming the
// variable.
func TestBadWebhookURLStopsStartUp(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the service and runs it as a process; skipped in -short mode")
	}
	ns := peertest.NATS(t)
	_, err := peertest.Spawn(t, peertest.Build(t, ".."), peertest.Options{NATSURL: ns.ClientURL(), ReadyTimeout: 20 * time.Second,
		Env: []string{"CATGA_SQLITE_PATH=" + filepath.Join(t.TempDir(), "n.db"), "CATGA_WEBHOOK_URL=ftp://hooks.example/n"}})
	if err == nil || !strings.Contains(err.Error(), "CATGA_WEBHOOK_URL") {
		t.Fatalf("Spawn = %v, want a start-up failure naming CATGA_WEBHOOK_URL", err)
	}
}
