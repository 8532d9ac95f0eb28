package service_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/catga-go/catga/libs/catga/peer/peertest"
	"github.com/catga-go/catga/libs/contracts"
)

// platform is the four services, two peers (processes) of each, over one
// embedded NATS server with JetStream, each service with its event store
// (a SQLite file, or a schema in one PostgreSQL database) and saga store
// (NATS KV, or Redis); notifications are posted to a webhook the test
// records.
type platform struct {
	top                                     *testing.T // peers live as long as it
	natsURL                                 string
	order, payment, inventory, notification []*peertest.Process
	bin                                     map[string]string   // by service
	env                                     map[string][]string // by service
	hook                                    *webhook
}

func TestMain(m *testing.M) { peertest.Main(m) }

func TestOrderSagaAcrossServices(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the four services and runs two peers of each as processes; skipped in -short mode")
	}
	stores := []struct {
		name string
		env  func(t *testing.T) []string // for every service: each has its own schema or key prefix
	}{
		{"sqlite and nats kv", func(*testing.T) []string { return nil }},
		{"postgres and redis", func(t *testing.T) []string {
			return []string{"CATGA_DATABASE_URL=" + peertest.PostgresURL(t), "CATGA_REDIS_ADDRS=" + peertest.RedisAddr(t)}
		}},
	}
	for _, st := range stores {
		t.Run(st.name, func(t *testing.T) {
			pf := boot(t, st.env(t))
			t.Run("happy path", pf.testHappyPath)
			t.Run("declined payment", pf.testDeclinedPayment)
			t.Run("out of stock", pf.testOutOfStock)
			t.Run("duplicate POST", pf.testDuplicatePost)
			t.Run("bad input", pf.testBadInput)
			t.Run("order peers killed while payment hangs", pf.testKilledWhilePaymentHangs)
			t.Run("order peers killed right after POST", pf.testKilledRightAfterPost)
		})
	}
}

// boot starts the platform; stores is the environment choosing the event
// and saga stores (none: a SQLite file per service and NATS KV).
func boot(t *testing.T, stores []string) *platform {
	t.Helper()
	ns := peertest.NATS(t)
	data := t.TempDir()
	pf := &platform{top: t, natsURL: ns.ClientURL(), hook: newWebhook(t), bin: map[string]string{}, env: map[string][]string{}}
	for _, name := range []string{"payment", "inventory", "notification", "order"} {
		dir := "../../" + name
		if name == "order" {
			dir = ".."
		}
		pf.bin[name] = peertest.Build(t, dir) // one build at a time: the machine is shared
		pf.env[name] = append([]string{"CATGA_SQLITE_PATH=" + filepath.Join(data, name+".db"), "CATGA_LOG_LEVEL=debug"}, stores...)
	}
	pf.env["notification"] = append(pf.env["notification"], "CATGA_WEBHOOK_URL="+pf.hook.URL)
	pf.payment = pf.start("payment", 0, 1)
	pf.inventory = pf.start("inventory", 0, 1)
	pf.notification = pf.start("notification", 0, 1)
	pf.order = pf.start("order", 0, 1)
	return pf
}

// start starts peers of service, numbered as given, that run until the
// whole test ends.
func (pf *platform) start(service string, numbers ...int) []*peertest.Process {
	var ps []*peertest.Process
	for _, n := range numbers {
		ps = append(ps, peertest.Start(pf.top, pf.bin[service], peertest.Options{
			NATSURL: pf.natsURL, Env: pf.env[service], Name: fmt.Sprintf("%s-%d", service, n), StopTimeout: 10 * time.Second,
		}))
	}
	return ps
}

// webhook records the notifications posted to it, by idempotency key.
type webhook struct {
	*httptest.Server
	mu    sync.Mutex
	byKey map[string][]note
}

type note struct {
	ID      string `json:"id"`
	OrderID string `json:"order_id"`
	Kind    string `json:"kind"`
	Reason  string `json:"reason"`
	Message string `json:"message"`
}

func newWebhook(t *testing.T) *webhook {
	w := &webhook{byKey: map[string][]note{}}
	w.Server = httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		var n note
		if err := json.NewDecoder(r.Body).Decode(&n); err != nil {
			rw.WriteHeader(http.StatusBadRequest)
			return
		}
		w.mu.Lock()
		defer w.mu.Unlock()
		key := r.Header.Get("Idempotency-Key")
		w.byKey[key] = append(w.byKey[key], n)
		rw.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(w.Close)
	return w
}

// sent returns the distinct notifications posted about order, and whether
// every post carried the notification's id as its key.
func (w *webhook) sent(order string) (notes []note, keyed bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	keyed = true
	for key, ns := range w.byKey {
		if ns[0].OrderID != order {
			continue
		}
		notes = append(notes, ns[0])
		for _, n := range ns {
			keyed = keyed && n.ID == key
		}
	}
	return notes, keyed
}

// The API's JSON, as far as the tests read it.
type (
	orderResp struct {
		ID     string `json:"id"`
		State  string `json:"state"`
		Reason string `json:"reason"`
		Total  int64  `json:"total"`
		Saga   *struct {
			State string `json:"state"`
			Steps []struct {
				Name     string `json:"name"`
				Status   string `json:"status"`
				Attempts int    `json:"attempts"`
			} `json:"steps"`
			History []struct {
				Step string `json:"step"`
				What string `json:"what"`
			} `json:"history"`
		} `json:"saga"`
	}
	listResp struct {
		Orders []listed `json:"orders"`
		Next   string   `json:"next"`
	}
	listed struct {
		ID       string `json:"id"`
		Customer string `json:"customer"`
		State    string `json:"state"`
	}
	errResp struct {
		Error struct {
			Code    string `json:"code"`
			Message string `json:"message"`
			Field   string `json:"field"`
		} `json:"error"`
	}
	accountResp struct {
		Balance int64 `json:"balance"`
		Charges map[string]struct {
			Amount   int64 `json:"amount"`
			Refunded bool  `json:"refunded"`
		} `json:"charges"`
	}
	stockResp struct {
		Available int64 `json:"available"`
		Reserved  int64 `json:"reserved"`
	}
	notificationsResp struct {
		Notifications []note `json:"notifications"`
	}
)

type item struct {
	SKU       string `json:"sku"`
	Quantity  int64  `json:"quantity"`
	UnitPrice int64  `json:"unit_price"`
}

type orderReq struct {
	Customer string `json:"customer"`
	Items    []item `json:"items"`
}

// unique makes ids of one test run distinct from those of the others.
func unique(t *testing.T, s string) string {
	return s + "-" + strings.NewReplacer(" ", "-", "/", "-").Replace(t.Name())
}

func (pf *platform) openAccount(t *testing.T, id string, balance int64) {
	t.Helper()
	var out errResp
	status := call(t, "POST", pf.payment[0].URL+"/accounts", map[string]any{"id": id, "balance": balance}, nil, &out)
	mustf(t, status == http.StatusCreated, "open account %s: %d %+v", id, status, out)
}

func (pf *platform) account(t *testing.T, id string) accountResp {
	t.Helper()
	var a accountResp
	status := call(t, "GET", pf.payment[1].URL+"/accounts/"+id, nil, nil, &a)
	mustf(t, status == http.StatusOK, "GET account %s: %d", id, status)
	return a
}

func (pf *platform) addStock(t *testing.T, sku string, n int64) {
	t.Helper()
	status := call(t, "POST", pf.inventory[0].URL+"/stock/"+sku, map[string]any{"quantity": n}, nil, nil)
	mustf(t, status == http.StatusOK, "add stock %s: %d", sku, status)
}

func (pf *platform) stock(t *testing.T, sku string) stockResp {
	t.Helper()
	var s stockResp
	status := call(t, "GET", pf.inventory[1].URL+"/stock/"+sku, nil, nil, &s)
	mustf(t, status == http.StatusOK, "GET stock %s: %d", sku, status)
	return s
}

// place posts req to order peer i (with an Idempotency-Key when key is
// set) and returns the status and order.
func (pf *platform) place(t *testing.T, i int, req any, key string) (int, orderResp) {
	t.Helper()
	h := http.Header{}
	if key != "" {
		h.Set("Idempotency-Key", key)
	}
	var o orderResp
	status := call(t, "POST", pf.order[i].URL+"/orders", req, h, &o)
	return status, o
}

func (pf *platform) get(t *testing.T, id string) orderResp {
	t.Helper()
	var o orderResp
	status := call(t, "GET", pf.order[len(pf.order)-1].URL+"/orders/"+id, nil, nil, &o)
	mustf(t, status == http.StatusOK, "GET order %s: %d", id, status)
	return o
}

// outcome waits (bounded) for order id to end and returns it.
func (pf *platform) outcome(t *testing.T, id string, within time.Duration) orderResp {
	t.Helper()
	var o orderResp
	peertest.Eventually(t, within, "order "+id+" ends", func() bool {
		o = pf.get(t, id)
		return o.State != "PENDING"
	})
	return o
}

// notified waits until the notification service recorded and sent the one
// notification about order id, and checks that it stays one.
func (pf *platform) notified(t *testing.T, id, kind, reason string) {
	t.Helper()
	var got notificationsResp
	// Up to 60s: after order peers die, the outbox relay lease a dead peer
	// held (30s on SQLite) must expire before order.completed is published.
	peertest.Eventually(t, 60*time.Second, "the notification about "+id+" is sent", func() bool {
		sent, _ := pf.hook.sent(id)
		return len(sent) > 0
	})
	for _, p := range pf.notification {
		status := call(t, "GET", p.URL+"/notifications?order="+id, nil, nil, &got)
		mustf(t, status == http.StatusOK, "GET notifications: %d", status)
		mustf(t, len(got.Notifications) == 1, "%s lists %d notifications for %s, want 1: %+v", p.Name, len(got.Notifications), id, got.Notifications)
		n := got.Notifications[0]
		mustf(t, n.Kind == kind && n.Reason == reason, "notification %+v, want %s %q", n, kind, reason)
	}
	sent, keyed := pf.hook.sent(id)
	mustf(t, len(sent) == 1 && keyed && sent[0].ID == got.Notifications[0].ID,
		"webhook got %+v (keyed by id: %v), want the one recorded notification", sent, keyed)
}

func (pf *platform) listed(t *testing.T, id, state string) {
	t.Helper()
	for _, p := range pf.order {
		peertest.Eventually(t, 10*time.Second, p.Name+" lists "+id+" as "+state, func() bool {
			after := ""
			for range 100 {
				var page listResp
				status := call(t, "GET", p.URL+"/orders?limit=100&state="+state+"&after="+after, nil, nil, &page)
				mustf(t, status == http.StatusOK, "GET /orders: %d", status)
				if slices.ContainsFunc(page.Orders, func(o listed) bool { return o.ID == id && o.State == state }) {
					return true
				}
				if page.Next == "" {
					return false
				}
				after = page.Next
			}
			return false
		})
	}
}

func (pf *platform) testHappyPath(t *testing.T) {
	customer, sku := unique(t, "alice"), unique(t, "book")
	pf.openAccount(t, customer, 10_000)
	pf.addStock(t, sku, 5)
	status, o := pf.place(t, 0, orderReq{Customer: customer, Items: []item{{SKU: sku, Quantity: 2, UnitPrice: 1250}}}, "")
	mustf(t, status == http.StatusCreated && o.State == "PENDING" && o.Total == 2500, "POST = %d %+v", status, o)

	o = pf.outcome(t, o.ID, 30*time.Second)
	mustf(t, o.State == "COMPLETED" && o.Reason == "", "order ended %s %q", o.State, o.Reason)
	mustf(t, o.Saga != nil && o.Saga.State == "completed" && len(o.Saga.Steps) == 4, "saga %+v", o.Saga)
	for i, want := range []string{"order", "charge", "reserve", "complete"} {
		st := o.Saga.Steps[i]
		mustf(t, st.Name == want && st.Status == "succeeded" && st.Attempts >= 1, "step %d = %+v, want %s succeeded", i, st, want)
	}
	a := pf.account(t, customer)
	mustf(t, a.Balance == 7_500 && len(a.Charges) == 1 && a.Charges[o.ID].Amount == 2500 && !a.Charges[o.ID].Refunded,
		"account %+v, want one charge of 2500", a)
	s := pf.stock(t, sku)
	mustf(t, s.Available == 3 && s.Reserved == 2, "stock %+v, want 2 reserved", s)
	pf.notified(t, o.ID, "order_completed", "")
	pf.listed(t, o.ID, "COMPLETED")
}

func (pf *platform) testDeclinedPayment(t *testing.T) {
	customer, sku := unique(t, "poor"), unique(t, "book")
	pf.openAccount(t, customer, 100)
	pf.addStock(t, sku, 5)
	_, o := pf.place(t, 1, orderReq{Customer: customer, Items: []item{{SKU: sku, Quantity: 2, UnitPrice: 1250}}}, "")
	o = pf.outcome(t, o.ID, 30*time.Second)
	mustf(t, o.State == "CANCELLED" && o.Reason == "insufficient_funds", "order ended %s %q", o.State, o.Reason)
	a := pf.account(t, customer)
	mustf(t, a.Balance == 100 && a.Charges[o.ID].Amount == 0, "account %+v, want no charge", a)
	s := pf.stock(t, sku)
	mustf(t, s.Available == 5 && s.Reserved == 0, "stock %+v, want nothing reserved", s)
	pf.notified(t, o.ID, "order_cancelled", "insufficient_funds")
	pf.listed(t, o.ID, "CANCELLED")
}

func (pf *platform) testOutOfStock(t *testing.T) {
	customer, plenty, scarce := unique(t, "carol"), unique(t, "pen"), unique(t, "ink")
	pf.openAccount(t, customer, 10_000)
	pf.addStock(t, plenty, 5)
	pf.addStock(t, scarce, 1)
	_, o := pf.place(t, 0, orderReq{Customer: customer, Items: []item{
		{SKU: plenty, Quantity: 1, UnitPrice: 300}, {SKU: scarce, Quantity: 2, UnitPrice: 500}}}, "")
	o = pf.outcome(t, o.ID, 30*time.Second)
	mustf(t, o.State == "CANCELLED" && o.Reason == "out_of_stock", "order ended %s %q", o.State, o.Reason)
	a := pf.account(t, customer)
	c := a.Charges[o.ID]
	mustf(t, a.Balance == 10_000 && c.Amount == 1300 && c.Refunded, "account %+v: want the charge of 1300 refunded (charged - refunded = 0)", a)
	for sku, want := range map[string]int64{plenty: 5, scarce: 1} {
		s := pf.stock(t, sku)
		mustf(t, s.Available == want && s.Reserved == 0, "stock of %s %+v, want all %d available", sku, s, want)
	}
	pf.notified(t, o.ID, "order_cancelled", "out_of_stock")
}

func (pf *platform) testDuplicatePost(t *testing.T) {
	customer, sku := unique(t, "dave"), unique(t, "mug")
	pf.openAccount(t, customer, 10_000)
	pf.addStock(t, sku, 5)
	req := orderReq{Customer: customer, Items: []item{{SKU: sku, Quantity: 1, UnitPrice: 800}}}
	key := unique(t, "key")
	var (
		wg       sync.WaitGroup
		statuses [2]int
		orders   [2]orderResp
	)
	for i := range 2 { // the same request to both peers at once
		wg.Go(func() { statuses[i], orders[i] = pf.place(t, i, req, key) })
	}
	wg.Wait()
	slices.Sort(statuses[:])
	mustf(t, statuses == [2]int{http.StatusOK, http.StatusCreated}, "statuses %v, want one 201 and one 200", statuses)
	mustf(t, orders[0].ID != "" && orders[0].ID == orders[1].ID, "orders %s and %s, want one", orders[0].ID, orders[1].ID)
	status, again := pf.place(t, 1, req, key)
	mustf(t, status == http.StatusOK && again.ID == orders[0].ID, "a later retry: %d %s", status, again.ID)

	o := pf.outcome(t, orders[0].ID, 30*time.Second)
	mustf(t, o.State == "COMPLETED", "order ended %s %q", o.State, o.Reason)
	a := pf.account(t, customer)
	mustf(t, a.Balance == 9_200 && len(a.Charges) == 1, "account %+v, want one charge of 800", a)

	var e errResp
	status = call(t, "POST", pf.order[0].URL+"/orders", orderReq{Customer: customer, Items: []item{{SKU: sku, Quantity: 2, UnitPrice: 800}}},
		http.Header{"Idempotency-Key": {key}}, &e)
	mustf(t, status == http.StatusUnprocessableEntity && e.Error.Field == "Idempotency-Key", "same key, other items: %d %+v", status, e)
}

func (pf *platform) testBadInput(t *testing.T) {
	ok := `{"customer":"bad-input","items":[{"sku":"x","quantity":1,"unit_price":1}]}`
	tests := []struct {
		name   string
		method string
		path   string
		body   string
		key    string // Idempotency-Key header, "-" for none
		status int
		code   string // "" means any
		field  string
	}{
		{"malformed JSON", "POST", "/orders", `{"customer":`, "-", 400, "malformed_json", ""},
		{"not an object", "POST", "/orders", `[1,2]`, "-", 400, "", ""},
		{"empty body", "POST", "/orders", ``, "-", 400, "empty_body", ""},
		{"unknown field", "POST", "/orders", `{"customer":"c","colour":"red","items":[]}`, "-", 400, "unknown_field", "colour"},
		{"wrong type", "POST", "/orders", `{"customer":"c","items":[{"sku":"x","quantity":"1","unit_price":1}]}`, "-", 400, "invalid_type", "items.quantity"},
		{"two values", "POST", "/orders", ok + ok, "-", 400, "malformed_json", ""},
		{"oversized body", "POST", "/orders", `{"customer":"` + strings.Repeat("c", 70<<10) + `"}`, "-", 413, "body_too_large", ""},
		{"no customer", "POST", "/orders", `{"items":[{"sku":"x","quantity":1,"unit_price":1}]}`, "-", 422, "", "customer"},
		{"customer with spaces", "POST", "/orders", `{"customer":"a b","items":[{"sku":"x","quantity":1,"unit_price":1}]}`, "-", 422, "", "customer"},
		{"no items", "POST", "/orders", `{"customer":"c"}`, "-", 422, "", "items"},
		{"empty items", "POST", "/orders", `{"customer":"c","items":[]}`, "-", 422, "", "items"},
		{"zero quantity", "POST", "/orders", `{"customer":"c","items":[{"sku":"x","quantity":0,"unit_price":1}]}`, "-", 422, "", "items[0].quantity"},
		{"negative quantity", "POST", "/orders", `{"customer":"c","items":[{"sku":"x","quantity":-2,"unit_price":1}]}`, "-", 422, "", "items[0].quantity"},
		{"zero price", "POST", "/orders", `{"customer":"c","items":[{"sku":"x","quantity":1,"unit_price":0}]}`, "-", 422, "", "items[0].unit_price"},
		{"negative price", "POST", "/orders", `{"customer":"c","items":[{"sku":"x","quantity":1,"unit_price":-1}]}`, "-", 422, "", "items[0].unit_price"},
		{"duplicate sku", "POST", "/orders", `{"customer":"c","items":[{"sku":"x","quantity":1,"unit_price":1},{"sku":"x","quantity":1,"unit_price":1}]}`, "-", 422, "", "items[1].sku"},
		{"empty idempotency key", "POST", "/orders", ok, "", 400, "", "Idempotency-Key"},
		{"idempotency key with spaces", "POST", "/orders", ok, "a b", 400, "", "Idempotency-Key"},
		{"unknown order", "GET", "/orders/0b6c6d2e-8f2a-4a57-9d0b-3f4f1f0c2e11", "", "-", 404, "not_found", ""},
		{"order id not an id", "GET", "/orders/nope", "", "-", 404, "not_found", ""},
		{"limit zero", "GET", "/orders?limit=0", "", "-", 400, "", "limit"},
		{"limit too big", "GET", "/orders?limit=101", "", "-", 400, "", "limit"},
		{"limit not a number", "GET", "/orders?limit=ten", "", "-", 400, "", "limit"},
		{"unknown state", "GET", "/orders?state=DONE", "", "-", 400, "", "state"},
		{"bad cursor", "GET", "/orders?after=xyz", "", "-", 400, "", "after"},
		{"unknown parameter", "GET", "/orders?sort=asc", "", "-", 400, "", "sort"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := http.Header{}
			if tt.key != "-" {
				h["Idempotency-Key"] = []string{tt.key}
			}
			var body any
			if tt.body != "" {
				body = tt.body
			}
			var e errResp
			status := call(t, tt.method, pf.order[0].URL+tt.path, body, h, &e)
			mustf(t, status == tt.status, "status %d (%+v), want %d", status, e.Error, tt.status)
			mustf(t, tt.code == "" || e.Error.Code == tt.code, "code %q, want %q", e.Error.Code, tt.code)
			mustf(t, e.Error.Field == tt.field, "field %q (%s), want %q", e.Error.Field, e.Error.Message, tt.field)
			mustf(t, e.Error.Message != "", "no message")
		})
	}
	t.Run("notifications without an order", func(t *testing.T) {
		var e errResp
		status := call(t, "GET", pf.notification[0].URL+"/notifications", nil, nil, &e)
		mustf(t, status == 400 && e.Error.Field == "order", "%d %+v", status, e)
	})
	// Nothing was written: once the views show an order placed after the
	// bad requests, they show every order placed before it (the feed is in
	// commit order), and none is of the bad requests' customers.
	_, o := pf.place(t, 0, orderReq{Customer: unique(t, "nobody"), Items: []item{{SKU: "x", Quantity: 1, UnitPrice: 1}}}, "")
	pf.listed(t, o.ID, "CANCELLED") // no such account: cancelled
	for _, p := range pf.order {
		for _, c := range pf.customers(t, p) {
			mustf(t, c != "c" && c != "bad-input" && c != "a b", "%s lists an order of %q: a bad request was written", p.Name, c)
		}
	}
}

// customers returns the customer of every order p lists.
func (pf *platform) customers(t *testing.T, p *peertest.Process) []string {
	t.Helper()
	var cs []string
	after := ""
	for range 1000 {
		var page listResp
		status := call(t, "GET", p.URL+"/orders?limit=100&after="+after, nil, nil, &page)
		mustf(t, status == http.StatusOK, "GET /orders: %d", status)
		for _, o := range page.Orders {
			cs = append(cs, o.Customer)
		}
		if page.Next == "" {
			return cs
		}
		after = page.Next
	}
	t.Fatal("more than 1000 pages")
	return nil
}

// Both order peers die (SIGKILL) while the saga waits on a payment that
// hangs (payment's peers are down and something swallows its requests);
// two new order peers take over, payment comes back. The order still ends
// once, charged once.
func (pf *platform) testKilledWhilePaymentHangs(t *testing.T) {
	customer, sku := unique(t, "erin"), unique(t, "lamp")
	pf.openAccount(t, customer, 10_000)
	pf.addStock(t, sku, 5)
	for _, p := range pf.payment {
		mustf(t, p.Stop() == nil, "%s did not stop cleanly", p.Name)
	}
	nc, err := nats.Connect(pf.natsURL)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	swallowed := make(chan struct{}, 100)
	hang, err := nc.Subscribe(contracts.PaymentCharge.Subject(), func(*nats.Msg) {
		select {
		case swallowed <- struct{}{}:
		default:
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = hang.Unsubscribe() }()

	status, o := pf.place(t, 0, orderReq{Customer: customer, Items: []item{{SKU: sku, Quantity: 1, UnitPrice: 4200}}}, "")
	mustf(t, status == http.StatusCreated, "POST = %d", status)
	select {
	case <-swallowed:
	case <-time.After(30 * time.Second):
		t.Fatal("no charge was sent within 30s")
	}
	s := pf.get(t, o.ID).Saga
	mustf(t, s != nil && s.State == "running" && s.Steps[1].Status == "started", "saga %+v, want it waiting on the charge", s)

	for _, p := range pf.order {
		p.Kill()
	}
	pf.order = pf.start("order", 2, 3)
	pf.payment = pf.start("payment", 2, 3)
	mustf(t, hang.Unsubscribe() == nil, "unsubscribe")

	o = pf.outcome(t, o.ID, 60*time.Second)
	mustf(t, o.State == "COMPLETED", "order ended %s %q, want COMPLETED once payment answers", o.State, o.Reason)
	claimed := slices.ContainsFunc(o.Saga.History, func(h struct {
		Step string `json:"step"`
		What string `json:"what"`
	}) bool {
		return h.What == "claimed"
	})
	mustf(t, claimed, "the saga was never claimed by a new peer: %+v", o.Saga.History)
	a := pf.account(t, customer)
	mustf(t, a.Balance == 10_000-4200 && len(a.Charges) == 1, "account %+v, want one charge of 4200", a)
	pf.notified(t, o.ID, "order_completed", "")
}

// Both order peers die (SIGKILL) right after taking orders: wherever each
// order was (its event not yet relayed, its saga not yet started, its
// charge in flight), new peers finish it, once, charging once.
func (pf *platform) testKilledRightAfterPost(t *testing.T) {
	type placed struct{ customer, id string }
	var orders []placed
	sku := unique(t, "desk")
	pf.addStock(t, sku, 10)
	for i := range 3 {
		customer := unique(t, fmt.Sprintf("fay%d", i))
		pf.openAccount(t, customer, 10_000)
		status, o := pf.place(t, i%2, orderReq{Customer: customer, Items: []item{{SKU: sku, Quantity: 1, UnitPrice: 1000 + int64(i)}}}, "")
		mustf(t, status == http.StatusCreated, "POST = %d", status)
		orders = append(orders, placed{customer, o.ID})
	}
	for _, p := range pf.order {
		p.Kill()
	}
	pf.order = pf.start("order", 4, 5)
	for i, p := range orders {
		o := pf.outcome(t, p.id, 120*time.Second)
		mustf(t, o.State == "COMPLETED", "order %d ended %s %q", i, o.State, o.Reason)
		a := pf.account(t, p.customer)
		mustf(t, a.Balance == 10_000-1000-int64(i) && len(a.Charges) == 1, "account of order %d: %+v, want one charge", i, a)
		pf.notified(t, p.id, "order_completed", "")
	}
	s := pf.stock(t, sku)
	mustf(t, s.Reserved == 3 && s.Available == 7, "stock %+v, want 3 reserved", s)
}
