package topology_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"sync"
	"time"

	"github.com/catga-go/catga/e2e/topology"
)

// client talks to the services as a user would: JSON over the peers'
// mapped HTTP ports. It remembers how each order it placed was placed
// (see placeOrders), for the trace check.
type client struct {
	http *http.Client

	mu         sync.Mutex
	placements map[string]placedOrder // by order id
}

// placedOrder is how an order was placed: the W3C trace every attempt of its
// POST /orders carried, and the peer whose answer the client took, when.
type placedOrder struct {
	trace string // hex trace id
	peer  *topology.Peer
	at    time.Time
}

func newClient() *client {
	return &client{http: &http.Client{Timeout: 10 * time.Second}, placements: map[string]placedOrder{}}
}

func (c *client) recordPlacement(orderID string, p placedOrder) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.placements[orderID] = p
}

// placement returns how orderID was placed; ok is false for an order this
// client did not place through placeOrders.
func (c *client) placement(orderID string) (p placedOrder, ok bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	p, ok = c.placements[orderID]
	return p, ok
}

// do sends body (when not nil) as JSON and decodes a 2xx answer into out.
func (c *client) do(ctx context.Context, method, url string, header http.Header, body, out any) (int, error) {
	var r io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return 0, err
		}
		r = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, url, r)
	if err != nil {
		return 0, err
	}
	for k, v := range header {
		req.Header[k] = v
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.http.Do(req)
	if err != nil {
		return 0, err
	}
	defer func() { _ = resp.Body.Close() }()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return resp.StatusCode, err
	}
	if resp.StatusCode/100 != 2 {
		return resp.StatusCode, fmt.Errorf("%s %s: %d %s", method, url, resp.StatusCode, bytes.TrimSpace(b))
	}
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			return resp.StatusCode, fmt.Errorf("%s %s: %w", method, url, err)
		}
	}
	return resp.StatusCode, nil
}

type item struct {
	SKU       string `json:"sku"`
	Quantity  int64  `json:"quantity"`
	UnitPrice int64  `json:"unit_price"`
}

type order struct {
	ID       string `json:"id"`
	Customer string `json:"customer"`
	State    string `json:"state"`
	Reason   string `json:"reason"`
	Items    []item `json:"items"`
	Total    int64  `json:"total"`
}

type account struct {
	ID      string `json:"id"`
	Balance int64  `json:"balance"`
	Charges map[string]struct {
		Amount   int64 `json:"amount"`
		Refunded bool  `json:"refunded"`
	} `json:"charges"`
}

type stock struct {
	SKU       string `json:"sku"`
	OnHand    int64  `json:"on_hand"`
	Reserved  int64  `json:"reserved"`
	Available int64  `json:"available"`
}

type notifications struct {
	Notifications []json.RawMessage `json:"notifications"`
}
