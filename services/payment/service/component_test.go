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
	"github.com/catga-go/catga/services/payment/adapters"
	"github.com/catga-go/catga/services/payment/app"
	"github.com/catga-go/catga/services/payment/domain"
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
		{"Declined", testDeclined},
		{"DuplicateDeliveries", testDuplicateDeliveries},
		{"StaleEpoch", testStaleEpoch},
		{"RefundBeforeCharge", testRefundBeforeCharge},
		{"ConcurrentCharges", testConcurrentCharges},
		{"BadInput", testBadInput},
		{"PeerKilledMidCommand", testPeerKilledMidCommand},
	}
	reg := eventstore.NewRegistry()
	if err := adapters.RegisterEvents(reg); err != nil {
		t.Fatal(err)
	}
	peertest.EachBackend(t, "payment", reg, func(t *testing.T, b peertest.Backend) {
		pc := peertest.StartCluster(t, bin, 2, b, peertest.Options{Env: []string{"CATGA_LOG_LEVEL=debug"}})
		c := &cluster{Cluster: pc, client: pc.Transport(t, "payment-test")}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) { tt.fn(t, c) })
		}
	})
}

func (c *cluster) do(t *testing.T, peer int, method, path, body string) (int, []byte) {
	t.Helper()
	return c.Peers[peer].Client().Do(t, method, path, body)
}

func (c *cluster) open(t *testing.T, id string, balance int64) {
	t.Helper()
	if status, body := c.do(t, 0, "POST", "/accounts", fmt.Sprintf(`{"id":%q,"balance":%d}`, id, balance)); status != http.StatusCreated {
		t.Fatalf("open %s: %d %s", id, status, body)
	}
}

type account struct {
	ID      string `json:"id"`
	Balance int64  `json:"balance"`
	Charges map[string]struct {
		Amount   int64 `json:"amount"`
		Refunded bool  `json:"refunded"`
	} `json:"charges"`
}

// account reads id through peer.
func (c *cluster) account(t *testing.T, peer int, id string) account {
	t.Helper()
	status, body := c.do(t, peer, "GET", "/accounts/"+id, "")
	var a account
	if err := json.Unmarshal(body, &a); status != http.StatusOK || err != nil {
		t.Fatalf("read %s: %d %s", id, status, body)
	}
	return a
}

// events returns the account's events as stored.
func (c *cluster) events(t *testing.T, id string) []any {
	t.Helper()
	recs, err := c.Backend.Store.Load(t.Context(), app.Accounts.StreamID(id), 0)
	if err != nil {
		t.Fatal(err)
	}
	evs := make([]any, len(recs))
	for i, r := range recs {
		evs[i] = r.Event
	}
	return evs
}

// chargesOf counts the Charged events of each order in evs.
func chargesOf(evs []any) map[string]int {
	n := map[string]int{}
	for _, e := range evs {
		if ch, ok := e.(domain.Charged); ok {
			n[ch.Order]++
		}
	}
	return n
}

// step returns ctx carrying the metadata the order saga sends its payment
// step with: saga id, the step's key, the owner's epoch.
func step(ctx context.Context, sagaID string, epoch uint64, undo bool) context.Context {
	key := saga.ActionKey(sagaID, 0, 1)
	if undo {
		key = saga.UndoKey(key, 0)
	}
	return catga.WithMetadata(ctx, catga.Metadata{
		MessageID: fmt.Sprintf("%s@%d", key, epoch), CorrelationID: sagaID, IdempotencyKey: key, Epoch: epoch,
	})
}

func (c *cluster) charge(ctx context.Context, req contracts.Charge, opts ...transport.SendOption) (contracts.Charged, error) {
	return transport.Request(ctx, c.client, contracts.PaymentCharge, req, opts...)
}

func (c *cluster) refund(ctx context.Context, req contracts.Refund) (contracts.Refunded, error) {
	return transport.Request(ctx, c.client, contracts.PaymentRefund, req)
}

func rejection(err error) string {
	var rej *catga.RejectionError
	if errors.As(err, &rej) {
		return rej.Code
	}
	return ""
}

func testHappyPath(t *testing.T, c *cluster) {
	alice, order := peertest.ID(t, "alice"), peertest.ID(t, "o1")
	c.open(t, alice, 1000)
	got, err := c.charge(step(t.Context(), order, 1, false), contracts.Charge{OrderID: order, Customer: alice, Amount: 300})
	if err != nil || got != (contracts.Charged{OrderID: order, Amount: 300, Balance: 700}) {
		t.Fatalf("charge: %+v, %v", got, err)
	}
	a := c.account(t, 1, alice) // the other peer reads what the first wrote
	if a.Balance != 700 || a.Charges[order].Amount != 300 || a.Charges[order].Refunded {
		t.Fatalf("account %+v, want balance 700 and %s charged 300", a, order)
	}
	r, err := c.refund(step(t.Context(), order, 1, true), contracts.Refund{OrderID: order, Customer: alice, Amount: 300})
	if err != nil || r != (contracts.Refunded{OrderID: order, Amount: 300, Balance: 1000}) {
		t.Fatalf("refund: %+v, %v", r, err)
	}
}

func testDeclined(t *testing.T, c *cluster) {
	alice := peertest.ID(t, "alice")
	c.open(t, alice, 100)
	tests := []struct {
		name     string
		req      contracts.Charge
		wantCode string
	}{
		{"insufficient funds", contracts.Charge{OrderID: peertest.ID(t, "o1"), Customer: alice, Amount: 101}, contracts.CodeInsufficientFunds},
		{"unknown account", contracts.Charge{OrderID: peertest.ID(t, "o2"), Customer: peertest.ID(t, "nobody"), Amount: 1}, contracts.CodeUnknownAccount},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := c.charge(step(t.Context(), tt.req.OrderID, 1, false), tt.req)
			if rejection(err) != tt.wantCode {
				t.Fatalf("err = %v, want rejection %s", err, tt.wantCode)
			}
		})
	}
	if a := c.account(t, 1, alice); a.Balance != 100 || len(a.Charges) != 0 {
		t.Fatalf("account %+v: a declined charge wrote something", a)
	}
}

// deliver sends the same step message n times at once and returns the
// replies' errors.
func deliver[R any](n int, send func() (R, error), check func(R) error) []error {
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		wg.Go(func() {
			r, err := send()
			if err == nil {
				err = check(r)
			}
			errs[i] = err
		})
	}
	wg.Wait()
	return errs
}

// TestDuplicateDeliveries: many deliveries of one step message at once,
// spread over the peers by the queue group, charge once and all answer
// the charge; deliveries of it after its refund charge nothing (the
// account alone would charge again: it holds no charge for the order).
func testDuplicateDeliveries(t *testing.T, c *cluster) {
	alice, order := peertest.ID(t, "alice"), peertest.ID(t, "o1")
	c.open(t, alice, 1000)
	req := contracts.Charge{OrderID: order, Customer: alice, Amount: 300}
	ctx := step(t.Context(), order, 1, false)
	send := func() (contracts.Charged, error) { return c.charge(ctx, req) }
	for i, err := range deliver(12, send, func(r contracts.Charged) error {
		if r.Amount != 300 {
			return fmt.Errorf("reply %+v does not tell the charge", r)
		}
		return nil
	}) {
		if err != nil {
			t.Fatalf("delivery %d: %v", i, err)
		}
	}
	if n := chargesOf(c.events(t, alice))[order]; n != 1 {
		t.Fatalf("%d charges of %s, want 1", n, order)
	}
	if _, err := c.refund(step(t.Context(), order, 1, true), contracts.Refund{OrderID: order, Customer: alice, Amount: 300}); err != nil {
		t.Fatal(err)
	}
	for i, err := range deliver(8, send, func(contracts.Charged) error { return nil }) {
		if err != nil {
			t.Fatalf("late delivery %d: %v", i, err)
		}
	}
	if a := c.account(t, 0, alice); a.Balance != 1000 || chargesOf(c.events(t, alice))[order] != 1 {
		t.Fatalf("account %+v: a delivery after the refund charged again", a)
	}
}

// TestStaleEpoch: once a newer owner of the saga reached payment, the old
// owner's messages are refused and change nothing.
func testStaleEpoch(t *testing.T, c *cluster) {
	alice, order := peertest.ID(t, "alice"), peertest.ID(t, "o1")
	c.open(t, alice, 1000)
	if _, err := c.charge(step(t.Context(), order, 2, false), contracts.Charge{OrderID: order, Customer: alice, Amount: 100}); err != nil {
		t.Fatal(err)
	}
	_, err := c.refund(step(t.Context(), order, 1, true), contracts.Refund{OrderID: order, Customer: alice})
	if rejection(err) != saga.CodeStaleEpoch {
		t.Fatalf("refund from epoch 1: %v, want %s", err, saga.CodeStaleEpoch)
	}
	if a := c.account(t, 1, alice); a.Balance != 900 {
		t.Fatalf("balance %d, want 900: the stale refund applied", a.Balance)
	}
}

// TestRefundBeforeCharge: a refund that overtakes its charge gives back
// nothing, and the charge arriving after it is refused.
func testRefundBeforeCharge(t *testing.T, c *cluster) {
	alice, order := peertest.ID(t, "alice"), peertest.ID(t, "o1")
	c.open(t, alice, 1000)
	r, err := c.refund(step(t.Context(), order, 1, true), contracts.Refund{OrderID: order, Customer: alice, Amount: 100})
	if err != nil || r.Amount != 0 || r.Balance != 1000 {
		t.Fatalf("refund: %+v, %v; want nothing refunded", r, err)
	}
	_, err = c.charge(step(t.Context(), order, 1, false), contracts.Charge{OrderID: order, Customer: alice, Amount: 100})
	if rejection(err) != saga.CodeCompensated {
		t.Fatalf("late charge: %v, want %s", err, saga.CodeCompensated)
	}
	if a := c.account(t, 0, alice); a.Balance != 1000 {
		t.Fatalf("balance %d, want 1000: the late charge applied", a.Balance)
	}
}

// testConcurrentCharges: many orders charge one account at once through
// both peers; the balance never goes below zero and exactly what it
// covers is charged.
func testConcurrentCharges(t *testing.T, c *cluster) {
	alice := peertest.ID(t, "alice")
	c.open(t, alice, 1000)
	const n = 40
	var ok atomic.Int64
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		wg.Go(func() {
			order := peertest.ID(t, fmt.Sprintf("o%d", i))
			_, err := c.charge(step(t.Context(), order, 1, false), contracts.Charge{OrderID: order, Customer: alice, Amount: 100})
			switch {
			case err == nil:
				ok.Add(1)
			case rejection(err) != contracts.CodeInsufficientFunds:
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
	charged := 0
	for _, k := range chargesOf(c.events(t, alice)) {
		charged += k
	}
	if a := c.account(t, 1, alice); ok.Load() != 10 || charged != 10 || a.Balance != 0 {
		t.Fatalf("%d charges answered, %d stored, balance %d; want 10, 10 and 0", ok.Load(), charged, a.Balance)
	}
}

func testBadInput(t *testing.T, c *cluster) {
	alice := peertest.ID(t, "alice")
	c.open(t, alice, 100)
	httpTests := []struct {
		name, method, path, body string
		wantStatus               int
		wantField                string
	}{
		{"malformed", "POST", "/accounts", `{"id":`, 400, ""},
		{"unknown field", "POST", "/accounts", `{"id":"x","limit":5}`, 400, "limit"},
		{"negative balance", "POST", "/accounts", `{"id":"x","balance":-1}`, 422, "balance"},
		{"oversized", "POST", "/accounts", `{"id":"` + strings.Repeat("x", 1<<20) + `"}`, 413, ""},
		{"zero deposit", "POST", "/accounts/" + alice + "/deposits", `{"amount":0}`, 422, "amount"},
		{"deposit to nobody", "POST", "/accounts/nobody-" + alice + "/deposits", `{"amount":5}`, 404, ""},
		{"taken id", "POST", "/accounts", fmt.Sprintf(`{"id":%q}`, alice), 409, ""},
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
		name string
		req  contracts.Charge
	}{
		{"zero amount", contracts.Charge{OrderID: peertest.ID(t, "o1"), Customer: alice}},
		{"negative amount", contracts.Charge{OrderID: peertest.ID(t, "o2"), Customer: alice, Amount: -5}},
		{"no customer", contracts.Charge{OrderID: peertest.ID(t, "o3"), Amount: 5}},
		{"bad order id", contracts.Charge{OrderID: "o 4", Customer: alice, Amount: 5}},
	}
	for _, tt := range natsTests {
		t.Run("nats "+tt.name, func(t *testing.T) {
			_, err := c.charge(step(t.Context(), peertest.ID(t, "saga"), 1, false), tt.req)
			var remote *transport.RemoteError
			if !errors.As(err, &remote) || remote.Status != transport.StatusBadRequest {
				t.Fatalf("err = %v, want a bad request", err)
			}
		})
	}
	t.Run("nats not a saga step", func(t *testing.T) {
		_, err := c.charge(t.Context(), contracts.Charge{OrderID: peertest.ID(t, "o5"), Customer: alice, Amount: 5})
		var remote *transport.RemoteError
		if !errors.As(err, &remote) || remote.Status != transport.StatusBadRequest {
			t.Fatalf("err = %v, want a bad request", err)
		}
	})
	if a := c.account(t, 0, alice); a.Balance != 100 || len(a.Charges) != 0 {
		t.Fatalf("account %+v: bad input wrote something", a)
	}
}

// TestPeerKilledMidCommand: a peer dies (SIGKILL) while charges are in
// flight; the senders retry on the survivors, and every order is charged
// exactly once: a charge the dead peer committed is a duplicate to the
// survivor, one it had not committed left nothing behind.
func testPeerKilledMidCommand(t *testing.T, c *cluster) {
	victim := c.Start(t)
	alice := peertest.ID(t, "alice")
	c.open(t, alice, 1_000_000)
	const n = 60
	errs := peertest.SendsAcrossKill(t, victim, n, func(ctx context.Context, i int, opts ...transport.SendOption) error {
		order := peertest.ID(t, fmt.Sprintf("o%d", i))
		_, err := c.charge(step(ctx, order, 1, false), contracts.Charge{OrderID: order, Customer: alice, Amount: 10}, opts...)
		return err
	})
	for i, err := range errs {
		if err != nil {
			t.Errorf("order %d: %v", i, err)
		}
	}
	charges := chargesOf(c.events(t, alice))
	for i := range n {
		if got := charges[peertest.ID(t, fmt.Sprintf("o%d", i))]; got != 1 {
			t.Errorf("order %d charged %d times, want once", i, got)
		}
	}
	if a := c.account(t, 0, alice); a.Balance != 1_000_000-10*n {
		t.Fatalf("balance %d, want %d", a.Balance, 1_000_000-10*n)
	}
}
