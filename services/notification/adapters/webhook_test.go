package adapters_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/catga-go/catga/libs/catga"
	"github.com/catga-go/catga/services/notification/adapters"
	"github.com/catga-go/catga/services/notification/domain"
)

// receiver is a webhook endpoint answering with the given statuses in turn
// (the last one repeats), recording what it received.
type receiver struct {
	mu       sync.Mutex
	statuses []int
	keys     []string
	bodies   []domain.Notification
}

func (r *receiver) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	var n domain.Notification
	_ = json.NewDecoder(req.Body).Decode(&n)
	r.mu.Lock()
	defer r.mu.Unlock()
	r.keys = append(r.keys, req.Header.Get(adapters.HeaderIdempotencyKey))
	r.bodies = append(r.bodies, n)
	status := r.statuses[min(len(r.keys)-1, len(r.statuses)-1)]
	w.WriteHeader(status)
}

func (r *receiver) calls() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.keys)
}

var note = domain.Notification{ID: "n-1", OrderID: "o1", Customer: "alice", Kind: domain.KindCompleted, Message: "ok"}

func TestWebhookSender(t *testing.T) {
	tests := []struct {
		name      string
		statuses  []int
		calls     int
		ok        bool
		permanent bool
	}{
		{"accepted at once", []int{http.StatusNoContent}, 1, true, false},
		{"retried through server errors", []int{503, 500, 200}, 3, true, false},
		{"rate limited, then accepted", []int{429, 202}, 2, true, false},
		{"refused: not retried", []int{400}, 1, false, true},
		{"gone: not retried", []int{410}, 1, false, true},
		{"attempts run out: retryable later", []int{503}, 3, false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rcv := &receiver{statuses: tt.statuses}
			srv := httptest.NewServer(rcv)
			defer srv.Close()
			s, err := adapters.NewWebhookSender(adapters.WebhookConfig{URL: srv.URL, MaxAttempts: 3, InitialBackoff: time.Millisecond, MaxBackoff: 5 * time.Millisecond})
			if err != nil {
				t.Fatal(err)
			}
			err = s.Send(t.Context(), note)
			if (err == nil) != tt.ok || (err != nil && catga.IsRetryable(err) == tt.permanent) {
				t.Fatalf("Send = %v (retryable %v), want ok=%v permanent=%v", err, catga.IsRetryable(err), tt.ok, tt.permanent)
			}
			if rcv.calls() != tt.calls {
				t.Fatalf("%d calls, want %d", rcv.calls(), tt.calls)
			}
			for i, k := range rcv.keys {
				if k != note.ID || rcv.bodies[i].OrderID != note.OrderID {
					t.Fatalf("call %d: key %q body %+v, want the notification with its id as key", i, k, rcv.bodies[i])
				}
			}
		})
	}
}

func TestWebhookSenderAttemptTimeout(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	defer srv.Close()
	defer close(release)
	s, err := adapters.NewWebhookSender(adapters.WebhookConfig{URL: srv.URL, Timeout: 50 * time.Millisecond, MaxAttempts: 2, InitialBackoff: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	if err := s.Send(t.Context(), note); err == nil || !catga.IsRetryable(err) {
		t.Fatalf("Send to a hung endpoint = %v, want a retryable error", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("Send took %v: attempts are not bounded", d)
	}
}

func TestWebhookConfigValidate(t *testing.T) {
	for _, u := range []string{"", "ftp://x/y", "http://", "::"} {
		if _, err := adapters.NewWebhookSender(adapters.WebhookConfig{URL: u}); err == nil {
			t.Errorf("URL %q accepted", u)
		}
	}
	if _, err := adapters.NewWebhookSender(adapters.WebhookConfig{URL: "https://hooks.example/n", MaxAttempts: -1}); err == nil {
		t.Error("negative attempts accepted")
	}
}
