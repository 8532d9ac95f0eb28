package service_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/catga-go/catga/libs/catga"
	"github.com/catga-go/catga/libs/catga/eventstore"
	"github.com/catga-go/catga/libs/catga/peer/peertest"
	"github.com/catga-go/catga/libs/catga/saga"
	"github.com/catga-go/catga/libs/catga/transport"
	"github.com/catga-go/catga/libs/catga/transport/natstransport"
	"github.com/catga-go/catga/libs/contracts"
	"github.com/catga-go/catga/services/inventory/adapters"
	"github.com/catga-go/catga/services/inventory/domain"
)

// cluster is the service run as two peers (processes) over one event
// store and one NATS server, with a client of its own; its Backend's Store
// is the test's view of the peers' event store, for the checks.
type cluster struct {
	*peertest.Cluster
	client *natstransport.Transport
}

func TestMain(m *testing.M) { peertest.Main(m) }

// TestComponent runs every component test against two peers over SQLite
// and against two peers over PostgreSQL.
func TestComponent(t *testing.T) {
	if testing.Short() {
		t.Skip("component tests build the service and run its peers as processes; skipped under -short")
	}
	bin := peertest.Build(t, "..")
	tests := []struct {
		name string
		fn   func(t *testing.T, c *cluster)
	}{
		{"HappyPath", testHappyPath},
		{"OutOfStock", testOutOfStock},
		{"DuplicateDeliveries", testDuplicateDeliveries},
		{"StaleEpoch", testStaleEpoch},
		{"ReleaseBeforeReserve", testReleaseBeforeReserve},
		{"ConcurrentReservations", testConcurrentReservations},
		{"BadInput", testBadInput},
		{"PeerKilledMidCommand", testPeerKilledMidCommand},
	}
	reg := eventstore.NewRegistry()
	if err := adapters.RegisterEvents(reg); err != nil {
		t.Fatal(err)
	}
	peertest.EachBackend(t, "inventory", reg, func(t *testing.T, b peertest.Backend) {
		pc := peertest.StartCluster(t, bin, 2, b, peertest.Options{Env: []string{"CATGA_LOG_LEVEL=debug"}})
		c := &cluster{Cluster: pc, client: pc.Transport(t, "inventory-test")}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) { tt.fn(t, c) })
		}
	})
}

func (c *cluster) do(t *testing.T, peer int, method, path, body string) (int, []byte) {
	t.Helper()
	return c.Peers[peer].Client().Do(t, method, path, body)
}

func rejection(err error) string {
	var rej *catga.RejectionError
	if errors.As(err, &rej) {
		return rej.Code
	}
	return ""
}

func (c *cluster) add(t *testing.T, sku string, n int64) {
	t.Helper()
	if status, body := c.do(t, 0, "POST", "/stock/"+sku, fmt.Sprintf(`{"quantity":%d}`, n)); status != http.StatusOK {
		t.Fatalf("add %s: %d %s", sku, status, body)
	}
}

type stock struct {
	SKU       string `json:"sku"`
	OnHand    int64  `json:"on_hand"`
	Reserved  int64  `json:"reserved"`
	Available int64  `json:"available"`
}

// stock reads sku through peer.
func (c *cluster) stock(t *testing.T, peer int, sku string) stock {
	t.Helper()
	status, body := c.do(t, peer, "GET", "/stock/"+sku, "")
	var s stock
	if err := json.Unmarshal(body, &s); status != http.StatusOK || err != nil {
		t.Fatalf("read %s: %d %s", sku, status, body)
	}
	return s
}

// reservedOf sums, from the SKU's events as stored, what each order holds.
func (c *cluster) reservedOf(t *testing.T, sku string) map[string]int64 {
	t.Helper()
	recs, err := c.Backend.Store.Load(t.Context(), domain.StockID(sku), 0)
	if err != nil {
		t.Fatal(err)
	}
	held := map[string]int64{}
	for _, r := range recs {
		switch e := r.Event.(type) {
		case domain.StockReserved:
			held[e.Order] += e.Quantity
		case domain.StockReleased:
			held[e.Order] -= e.Quantity
		}
	}
	return held
}

// sum adds up what held holds.
func sum(held map[string]int64) int64 {
	var n int64
	for _, q := range held {
		n += q
	}
	return n
}

// step returns ctx carrying the metadata the order saga sends its
// inventory step with: saga id, the step's key, the owner's epoch.
func step(ctx context.Context, sagaID string, epoch uint64, undo bool) context.Context {
	key := saga.ActionKey(sagaID, 1, 1)
	if undo {
		key = saga.UndoKey(key, 0)
	}
	return catga.WithMetadata(ctx, catga.Metadata{
		MessageID: fmt.Sprintf("%s@%d", key, epoch), CorrelationID: sagaID, IdempotencyKey: key, Epoch: epoch,
	})
}

func (c *cluster) reserve(ctx context.Context, order string, lines []contracts.Line, opts ...transport.SendOption) error {
	_, err := transport.Request(ctx, c.client, contracts.InventoryReserve, contracts.Reserve{OrderID: order, Lines: lines}, opts...)
	return err
}

func (c *cluster) release(ctx context.Context, order string) (contracts.Released, error) {
	return transport.Request(ctx, c.client, contracts.InventoryRelease, contracts.Release{OrderID: order})
}

func line(sku string, q int64) contracts.Line { return contracts.Line{SKU: sku, Quantity: q} }

func testHappyPath(t *testing.T, c *cluster) {
	a, b, order := peertest.ID(t, "a"), peertest.ID(t, "b"), peertest.ID(t, "o1")
	c.add(t, a, 5)
	c.add(t, b, 5)
	if err := c.reserve(step(t.Context(), order, 1, false), order, []contracts.Line{line(a, 2), line(b, 3)}); err != nil {
		t.Fatal(err)
	}
	if s := c.stock(t, 1, a); s != (stock{SKU: a, OnHand: 5, Reserved: 2, Available: 3}) {
		t.Fatalf("stock %+v", s)
	}
	got, err := c.release(step(t.Context(), order, 1, true), order)
	if err != nil || len(got.Lines) != 2 {
		t.Fatalf("release: %+v, %v", got, err)
	}
	if s := c.stock(t, 0, b); s.Reserved != 0 || s.Available != 5 {
		t.Fatalf("stock %+v after the release", s)
	}
}

func testOutOfStock(t *testing.T, c *cluster) {
	a, b := peertest.ID(t, "a"), peertest.ID(t, "b")
	c.add(t, a, 5)
	c.add(t, b, 1)
	tests := []struct {
		name     string
		lines    []contracts.Line
		wantCode string
	}{
		{"one line short", []contracts.Line{line(a, 5), line(b, 2)}, contracts.CodeOutOfStock},
		{"unknown sku", []contracts.Line{line(a, 1), line(peertest.ID(t, "zz"), 1)}, contracts.CodeUnknownSKU},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			order := peertest.ID(t, fmt.Sprint(i))
			if err := c.reserve(step(t.Context(), order, 1, false), order, tt.lines); rejection(err) != tt.wantCode {
				t.Fatalf("err = %v, want rejection %s", err, tt.wantCode)
			}
		})
	}
	if sa, sb := c.stock(t, 1, a), c.stock(t, 1, b); sa.Reserved != 0 || sb.Reserved != 0 {
		t.Fatalf("a %+v, b %+v: a refused reservation held some lines", sa, sb)
	}
}

// deliver sends the same step message n times at once and returns the
// replies' errors.
func deliver(n int, send func() error) []error {
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		wg.Go(func() { errs[i] = send() })
	}
	wg.Wait()
	return errs
}

// TestDuplicateDeliveries: many deliveries of one step message at once,
// spread over the peers by the queue group, reserve once; deliveries of
// it after its release reserve nothing (the streams alone would take it:
// the order holds nothing).
func testDuplicateDeliveries(t *testing.T, c *cluster) {
	a, order := peertest.ID(t, "a"), peertest.ID(t, "o1")
	c.add(t, a, 10)
	ctx := step(t.Context(), order, 1, false)
	send := func() error { return c.reserve(ctx, order, []contracts.Line{line(a, 3)}) }
	for i, err := range deliver(12, send) {
		if err != nil {
			t.Fatalf("delivery %d: %v", i, err)
		}
	}
	if held := c.reservedOf(t, a); held[order] != 3 || c.stock(t, 1, a).Reserved != 3 {
		t.Fatalf("%s holds %d, want 3", order, held[order])
	}
	if _, err := c.release(step(t.Context(), order, 1, true), order); err != nil {
		t.Fatal(err)
	}
	for i, err := range deliver(8, send) {
		if err != nil {
			t.Fatalf("late delivery %d: %v", i, err)
		}
	}
	if s := c.stock(t, 0, a); s.Reserved != 0 {
		t.Fatalf("stock %+v: a delivery after the release reserved again", s)
	}
}

// TestStaleEpoch: once a newer owner of the saga reached inventory, the
// old owner's messages are refused and change nothing.
func testStaleEpoch(t *testing.T, c *cluster) {
	a, order := peertest.ID(t, "a"), peertest.ID(t, "o1")
	c.add(t, a, 10)
	if err := c.reserve(step(t.Context(), order, 2, false), order, []contracts.Line{line(a, 4)}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.release(step(t.Context(), order, 1, true), order); rejection(err) != saga.CodeStaleEpoch {
		t.Fatalf("release from epoch 1: %v, want %s", err, saga.CodeStaleEpoch)
	}
	if s := c.stock(t, 1, a); s.Reserved != 4 {
		t.Fatalf("stock %+v: the stale release applied", s)
	}
}

// TestReleaseBeforeReserve: a release that overtakes its reservation
// returns nothing, and the reservation arriving after it is refused.
func testReleaseBeforeReserve(t *testing.T, c *cluster) {
	a, order := peertest.ID(t, "a"), peertest.ID(t, "o1")
	c.add(t, a, 10)
	got, err := c.release(step(t.Context(), order, 1, true), order)
	if err != nil || len(got.Lines) != 0 {
		t.Fatalf("release: %+v, %v; want nothing released", got, err)
	}
	if err := c.reserve(step(t.Context(), order, 1, false), order, []contracts.Line{line(a, 1)}); rejection(err) != saga.CodeCompensated {
		t.Fatalf("late reserve: %v, want %s", err, saga.CodeCompensated)
	}
	if s := c.stock(t, 0, a); s.Reserved != 0 {
		t.Fatalf("stock %+v: the late reservation applied", s)
	}
}

// TestConcurrentReservations: many orders race for two SKUs from many
// callers through both peers; stock never goes negative and every order
// holds all its lines or none.
func testConcurrentReservations(t *testing.T, c *cluster) {
	a, b := peertest.ID(t, "a"), peertest.ID(t, "b")
	c.add(t, a, 25)
	c.add(t, b, 30)
	const n = 40
	var ok atomic.Int64
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			order := peertest.ID(t, fmt.Sprintf("o%d", i))
			err := c.reserve(step(t.Context(), order, 1, false), order, []contracts.Line{line(a, 1), line(b, 1)})
			switch {
			case err == nil:
				ok.Add(1)
			case rejection(err) != contracts.CodeOutOfStock:
				errs[i] = err
			}
		})
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("order %d: %v", i, err)
		}
	}
	heldA, heldB := c.reservedOf(t, a), c.reservedOf(t, b)
	if ok.Load() != 25 || sum(heldA) != 25 || sum(heldB) != 25 {
		t.Fatalf("%d reservations succeeded; %d of a and %d of b held; want 25 each", ok.Load(), sum(heldA), sum(heldB))
	}
	for order, q := range heldA {
		if q != 1 || heldB[order] != 1 {
			t.Fatalf("order %s holds %d of a and %d of b: not all or nothing", order, q, heldB[order])
		}
	}
	if s := c.stock(t, 1, a); s.Available != 0 || s.Reserved != 25 {
		t.Fatalf("stock of a %+v, want all 25 reserved", s)
	}
}

func testBadInput(t *testing.T, c *cluster) {
	a := peertest.ID(t, "a")
	c.add(t, a, 5)
	httpTests := []struct {
		name, method, path, body string
		wantStatus               int
		wantField                string
	}{
		{"malformed", "POST", "/stock/" + a, `{"quantity":`, 400, ""},
		{"unknown field", "POST", "/stock/" + a, `{"quantity":1,"sku":"x"}`, 400, "sku"},
		{"zero", "POST", "/stock/" + a, `{"quantity":0}`, 422, "quantity"},
		{"negative", "POST", "/stock/" + a, `{"quantity":-1}`, 422, "quantity"},
		{"oversized", "POST", "/stock/" + a, `{"quantity":1` + strings.Repeat(" ", 1<<20) + `}`, 413, ""},
		{"unknown sku", "GET", "/stock/" + peertest.ID(t, "zz"), ``, 404, ""},
	}
	for _, tt := range httpTests {
		t.Run("http "+tt.name, func(t *testing.T) {
			status, body := c.do(t, 1, tt.method, tt.path, tt.body)
			var e struct {
				Error struct{ Code, Field string } `json:"error"`
			}
			if err := json.Unmarshal(body, &e); status != tt.wantStatus || err != nil || e.Error.Code == "" || e.Error.Field != tt.wantField {
				t.Fatalf("%d %s, want %d naming field %q", status, body, tt.wantStatus, tt.wantField)
			}
		})
	}
	natsTests := []struct {
		name  string
		order string
		lines []contracts.Line
	}{
		{"no lines", peertest.ID(t, "o1"), nil},
		{"zero quantity", peertest.ID(t, "o2"), []contracts.Line{line(a, 0)}},
		{"negative quantity", peertest.ID(t, "o3"), []contracts.Line{line(a, -1)}},
		{"no sku", peertest.ID(t, "o4"), []contracts.Line{line("", 1)}},
		{"no order", "", []contracts.Line{line(a, 1)}},
	}
	for _, tt := range natsTests {
		t.Run("nats "+tt.name, func(t *testing.T) {
			err := c.reserve(step(t.Context(), peertest.ID(t, "saga"), 1, false), tt.order, tt.lines)
			var remote *transport.RemoteError
			if !errors.As(err, &remote) || remote.Status != transport.StatusBadRequest {
				t.Fatalf("err = %v, want a bad request", err)
			}
		})
	}
	t.Run("nats not a saga step", func(t *testing.T) {
		err := c.reserve(t.Context(), peertest.ID(t, "o5"), []contracts.Line{line(a, 1)})
		var remote *transport.RemoteError
		if !errors.As(err, &remote) || remote.Status != transport.StatusBadRequest {
			t.Fatalf("err = %v, want a bad request", err)
		}
	})
	if s := c.stock(t, 0, a); s != (stock{SKU: a, OnHand: 5, Available: 5}) {
		t.Fatalf("stock %+v: bad input wrote something", s)
	}
}

// TestPeerKilledMidCommand: a peer dies (SIGKILL) while reservations are
// in flight; the senders retry on the survivors, and every order holds its
// lines exactly once.
func testPeerKilledMidCommand(t *testing.T, c *cluster) {
	victim := c.Start(t)
	a, b := peertest.ID(t, "a"), peertest.ID(t, "b")
	c.add(t, a, 1000)
	c.add(t, b, 1000)
	const n = 60
	errs := peertest.SendsAcrossKill(t, victim, n, func(ctx context.Context, i int, opts ...transport.SendOption) error {
		order := peertest.ID(t, fmt.Sprintf("o%d", i))
		return c.reserve(step(ctx, order, 1, false), order, []contracts.Line{line(a, 1), line(b, 2)}, opts...)
	})
	for i, err := range errs {
		if err != nil {
			t.Errorf("order %d: %v", i, err)
		}
	}
	heldA, heldB := c.reservedOf(t, a), c.reservedOf(t, b)
	for i := range n {
		order := peertest.ID(t, fmt.Sprintf("o%d", i))
		if heldA[order] != 1 || heldB[order] != 2 {
			t.Errorf("order %s holds %d of a and %d of b, want 1 and 2", order, heldA[order], heldB[order])
		}
	}
	if s := c.stock(t, 0, b); s.Reserved != 2*n {
		t.Fatalf("stock of b %+v, want %d reserved", s, 2*n)
	}
}
