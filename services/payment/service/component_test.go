package service_test

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/catga-go/catga/libs/catga"
	"github.com/catga-go/catga/libs/catga/eventstore"
	"github.com/catga-go/catga/libs/catga/eventstore/pgembed"
	"github.com/catga-go/catga/libs/catga/eventstore/pgstore"
	"github.com/catga-go/catga/libs/catga/eventstore/sqlitestore"
	"github.com/catga-go/catga/libs/catga/natsembed"
	"github.com/catga-go/catga/libs/catga/saga"
	"github.com/catga-go/catga/libs/catga/transport"
	"github.com/catga-go/catga/libs/catga/transport/natstransport"
	"github.com/catga-go/catga/libs/contracts"
	"github.com/catga-go/catga/services/payment/adapters"
	"github.com/catga-go/catga/services/payment/app"
	"github.com/catga-go/catga/services/payment/domain"
)

// cluster is the service run as two peers (processes) over one event
// store and one NATS server, with a client of its own.
type cluster struct {
	name   string
	bin    string
	dir    string
	env    []string
	nats   *natsembed.Server
	client *natstransport.Transport
	peers  []*proc
	store  eventstore.Store // the test's view of the peers' event store
	close  func()
}

// clusters: one over SQLite, one over PostgreSQL when it is installed.
var clusters []*cluster

func TestMain(m *testing.M) { os.Exit(runTests(m)) }

func runTests(m *testing.M) int {
	flag.Parse()
	if testing.Short() {
		fmt.Println("payment component tests skipped: -short (they build the service and run it as processes)")
		return 0
	}
	dir, err := os.MkdirTemp("", "payment-component-*")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer func() { _ = os.RemoveAll(dir) }()
	defer func() {
		for _, c := range clusters {
			c.shutdown()
		}
	}()
	if err := setUp(dir); err != nil {
		fmt.Fprintln(os.Stderr, "payment component tests:", err)
		return 1
	}
	return m.Run()
}

func setUp(dir string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	bin, err := buildBinary(dir)
	if err != nil {
		return err
	}
	reg := eventstore.NewRegistry()
	if err := adapters.RegisterEvents(reg); err != nil {
		return err
	}
	dbPath := filepath.Join(dir, "sqlite", "payment.db")
	c, err := startCluster("sqlite", bin, filepath.Join(dir, "sqlite"), []string{"CATGA_SQLITE_PATH=" + dbPath},
		func() (eventstore.Store, func(), error) {
			s, err := sqlitestore.Open(ctx, dbPath, reg)
			if err != nil {
				return nil, nil, err
			}
			return s, func() { _ = s.Close() }, nil
		})
	if err != nil {
		return err
	}
	clusters = append(clusters, c)
	pg, err := pgembed.Start(ctx, pgembed.Config{})
	if errors.Is(err, pgembed.ErrNoBinaries) {
		fmt.Println("payment component tests run over SQLite only:", err)
		return nil
	}
	if err != nil {
		return err
	}
	url := pg.URL("postgres")
	c, err = startCluster("postgres", bin, filepath.Join(dir, "postgres"), []string{"CATGA_DATABASE_URL=" + url},
		func() (eventstore.Store, func(), error) {
			pool, err := pgxpool.New(ctx, url)
			if err != nil {
				return nil, nil, err
			}
			s, err := pgstore.New(ctx, pool, reg, pgstore.WithSchema("payment"))
			if err != nil {
				pool.Close()
				return nil, nil, err
			}
			return s, func() { pool.Close(); pg.Stop() }, nil
		})
	if err != nil {
		pg.Stop()
		return err
	}
	clusters = append(clusters, c)
	return nil
}

func startCluster(name, bin, dir string, env []string, view func() (eventstore.Store, func(), error)) (*cluster, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	ns, err := natsembed.Start(natsembed.Config{})
	if err != nil {
		return nil, err
	}
	c := &cluster{name: name, bin: bin, dir: dir, nats: ns, close: func() {}}
	c.env = append(env, "CATGA_NATS_URL="+ns.ClientURL(), "CATGA_LOG_LEVEL=debug")
	if c.client, err = natstransport.Connect(natstransport.Config{URLs: []string{ns.ClientURL()}, Name: "payment-test"}); err != nil {
		c.shutdown()
		return nil, err
	}
	for range 2 {
		p, err := startProc(bin, dir, c.env)
		if err != nil {
			c.shutdown()
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		c.peers = append(c.peers, p)
	}
	store, closeView, err := view()
	if err != nil {
		c.shutdown()
		return nil, fmt.Errorf("%s: the test's view of the event store: %w", name, err)
	}
	c.store, c.close = store, closeView
	return c, nil
}

func (c *cluster) shutdown() {
	for _, p := range c.peers {
		p.stop()
	}
	if c.client != nil {
		_ = c.client.Close()
	}
	c.close()
	c.nats.Shutdown()
}

// each runs fn once per cluster; a failure prints the peers' last log
// lines.
func each(t *testing.T, fn func(t *testing.T, c *cluster)) {
	for _, c := range clusters {
		t.Run(c.name, func(t *testing.T) {
			t.Cleanup(func() {
				if t.Failed() {
					for i, p := range c.peers {
						t.Logf("peer %d log:\n%s", i, p.tail())
					}
				}
			})
			fn(t, c)
		})
	}
}

// ids makes ids unique to the test and cluster, since the clusters' stores
// outlive a test.
func ids(t *testing.T, base string) string {
	return strings.NewReplacer("/", "-", " ", "-").Replace(t.Name()) + "-" + base
}

func (c *cluster) do(t *testing.T, peer int, method, path, body string) (int, []byte) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, c.peers[peer].url+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = res.Body.Close() }()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return res.StatusCode, b
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
	recs, err := c.store.Load(t.Context(), app.Accounts.StreamID(id), 0)
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

func TestHappyPath(t *testing.T) {
	each(t, func(t *testing.T, c *cluster) {
		alice, order := ids(t, "alice"), ids(t, "o1")
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
	})
}

func TestDeclined(t *testing.T) {
	each(t, func(t *testing.T, c *cluster) {
		alice := ids(t, "alice")
		c.open(t, alice, 100)
		tests := []struct {
			name     string
			req      contracts.Charge
			wantCode string
		}{
			{"insufficient funds", contracts.Charge{OrderID: ids(t, "o1"), Customer: alice, Amount: 101}, contracts.CodeInsufficientFunds},
			{"unknown account", contracts.Charge{OrderID: ids(t, "o2"), Customer: ids(t, "nobody"), Amount: 1}, contracts.CodeUnknownAccount},
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
	})
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
func TestDuplicateDeliveries(t *testing.T) {
	each(t, func(t *testing.T, c *cluster) {
		alice, order := ids(t, "alice"), ids(t, "o1")
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
	})
}

// TestStaleEpoch: once a newer owner of the saga reached payment, the old
// owner's messages are refused and change nothing.
func TestStaleEpoch(t *testing.T) {
	each(t, func(t *testing.T, c *cluster) {
		alice, order := ids(t, "alice"), ids(t, "o1")
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
	})
}

// TestRefundBeforeCharge: a refund that overtakes its charge gives back
// nothing, and the charge arriving after it is refused.
func TestRefundBeforeCharge(t *testing.T) {
	each(t, func(t *testing.T, c *cluster) {
		alice, order := ids(t, "alice"), ids(t, "o1")
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
	})
}

func TestBadInput(t *testing.T) {
	each(t, func(t *testing.T, c *cluster) {
		alice := ids(t, "alice")
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
			{"zero amount", contracts.Charge{OrderID: ids(t, "o1"), Customer: alice}},
			{"negative amount", contracts.Charge{OrderID: ids(t, "o2"), Customer: alice, Amount: -5}},
			{"no customer", contracts.Charge{OrderID: ids(t, "o3"), Amount: 5}},
			{"bad order id", contracts.Charge{OrderID: "o 4", Customer: alice, Amount: 5}},
		}
		for _, tt := range natsTests {
			t.Run("nats "+tt.name, func(t *testing.T) {
				_, err := c.charge(step(t.Context(), ids(t, "saga"), 1, false), tt.req)
				var remote *transport.RemoteError
				if !errors.As(err, &remote) || remote.Status != transport.StatusBadRequest {
					t.Fatalf("err = %v, want a bad request", err)
				}
			})
		}
		if a := c.account(t, 0, alice); a.Balance != 100 || len(a.Charges) != 0 {
			t.Fatalf("account %+v: bad input wrote something", a)
		}
	})
}

// TestPeerKilledMidCommand: a peer dies (SIGKILL) while charges are in
// flight; the senders retry on the survivors, and every order is charged
// exactly once: a charge the dead peer committed is a duplicate to the
// survivor, one it had not committed left nothing behind.
func TestPeerKilledMidCommand(t *testing.T) {
	each(t, func(t *testing.T, c *cluster) {
		victim, err := startProc(c.bin, c.dir, c.env)
		if err != nil {
			t.Fatal(err)
		}
		defer victim.kill()
		alice := ids(t, "alice")
		c.open(t, alice, 1_000_000)
		const n = 60
		var answered atomic.Int64
		killed := make(chan int64, 1)
		var wg sync.WaitGroup
		errs := make([]error, n)
		for i := range n {
			wg.Go(func() {
				order := ids(t, fmt.Sprintf("o%d", i))
				ctx, cancel := context.WithTimeout(step(t.Context(), order, 1, false), 30*time.Second)
				defer cancel()
				_, errs[i] = c.charge(ctx, contracts.Charge{OrderID: order, Customer: alice, Amount: 10},
					transport.WithAttemptTimeout(time.Second), transport.WithRetry(20, 50*time.Millisecond))
				if answered.Add(1) == 5 {
					victim.kill()
					killed <- answered.Load()
				}
			})
		}
		wg.Wait()
		if a := <-killed; a >= n {
			t.Fatalf("the peer was killed after every charge was answered")
		}
		for i, err := range errs {
			if err != nil {
				t.Errorf("order %d: %v", i, err)
			}
		}
		charges := chargesOf(c.events(t, alice))
		for i := range n {
			if got := charges[ids(t, fmt.Sprintf("o%d", i))]; got != 1 {
				t.Errorf("order %d charged %d times, want once", i, got)
			}
		}
		if a := c.account(t, 0, alice); a.Balance != 1_000_000-10*n {
			t.Fatalf("balance %d, want %d", a.Balance, 1_000_000-10*n)
		}
	})
}
