package natstransport

import (
	"context"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/catga-go/catga/libs/catga/transport"
)

// replyMux routes replies to requests whose deadline comes from a lazy
// transport deadline context (see transport.SplitDeadline). nats.go's own
// RequestMsgWithContext needs ctx.Done(), which for such a context means a
// context timer, an AfterFunc and a registration in the parent: per
// request, and contended under load. Here a request waits on its parent's
// Done, a pooled timer and the reply channel instead. Like nats.go's, the
// mux is one wildcard subscription on a unique inbox, made on first use; the
// connection owns its goroutine and restores it after a reconnect.
type replyMux struct {
	started atomic.Bool
	startMu sync.Mutex
	prefix  string // "<inbox>.", set before started

	sub *nats.Subscription

	mu   sync.Mutex
	next uint64
	wait map[uint64]chan *nats.Msg
}

// stop ends the reply subscription. The transport calls it on Close once
// no handler of its own can still be waiting for a reply.
func (r *replyMux) stop() {
	r.startMu.Lock()
	defer r.startMu.Unlock()
	if r.sub != nil {
		_ = r.sub.Unsubscribe()
	}
}

// start subscribes on first use; a failure (say, the connection is
// closing) is returned and the next request tries again.
func (r *replyMux) start(nc *nats.Conn) error {
	if r.started.Load() {
		return nil
	}
	r.startMu.Lock()
	defer r.startMu.Unlock()
	if r.started.Load() {
		return nil
	}
	prefix := nc.NewInbox() + "."
	r.mu.Lock()
	if r.wait == nil {
		r.wait = map[uint64]chan *nats.Msg{}
	}
	r.mu.Unlock()
	r.prefix = prefix
	sub, err := nc.Subscribe(prefix+"*", r.deliver)
	if err != nil {
		return err
	}
	r.sub = sub
	r.started.Store(true)
	return nil
}

func (r *replyMux) deliver(m *nats.Msg) {
	if len(m.Subject) <= len(r.prefix) {
		return
	}
	id, err := strconv.ParseUint(m.Subject[len(r.prefix):], 36, 64)
	if err != nil {
		return
	}
	r.mu.Lock()
	ch := r.wait[id]
	delete(r.wait, id)
	r.mu.Unlock()
	if ch != nil {
		ch <- m // buffered 1 and removed from wait: never blocks
	}
}

func (r *replyMux) add() (uint64, chan *nats.Msg) {
	ch := make(chan *nats.Msg, 1)
	r.mu.Lock()
	r.next++
	id := r.next
	r.wait[id] = ch
	r.mu.Unlock()
	return id, ch
}

func (r *replyMux) remove(id uint64) {
	r.mu.Lock()
	delete(r.wait, id)
	r.mu.Unlock()
}

var timers = sync.Pool{New: func() any {
	t := time.NewTimer(time.Hour)
	t.Stop()
	return t
}}

// requestUntil sends req and waits for its reply until deadline, parent's
// end or the transport's close, whichever comes first.
func (t *Transport) requestUntil(parent context.Context, deadline time.Time, req *transport.Msg) (*transport.Msg, error) {
	if err := parent.Err(); err != nil {
		return nil, mapErr(req.Subject, err)
	}
	wait := time.Until(deadline)
	if wait <= 0 {
		return nil, mapErr(req.Subject, context.DeadlineExceeded)
	}
	if err := t.replies.start(t.nc); err != nil {
		return nil, mapErr(req.Subject, err)
	}
	id, ch := t.replies.add()
	reply := t.replies.prefix + strconv.FormatUint(id, 36)
	if err := t.nc.PublishMsg(&nats.Msg{Subject: req.Subject, Reply: reply, Header: nats.Header(req.Header), Data: req.Data}); err != nil {
		t.replies.remove(id)
		return nil, mapErr(req.Subject, err)
	}
	timer := timers.Get().(*time.Timer)
	timer.Reset(wait)
	defer func() {
		timer.Stop() // Go 1.23+ timers: no stale tick after Stop, safe to reuse
		timers.Put(timer)
	}()
	select {
	case m := <-ch:
		// The server answers a request nobody serves with a bare 503 status.
		if len(m.Data) == 0 && m.Header.Get("Status") == "503" {
			return nil, mapErr(req.Subject, nats.ErrNoResponders)
		}
		return &transport.Msg{Subject: m.Subject, Header: transport.Header(m.Header), Data: m.Data}, nil
	case <-parent.Done():
		t.replies.remove(id)
		return nil, mapErr(req.Subject, parent.Err())
	case <-timer.C:
		t.replies.remove(id)
		return nil, mapErr(req.Subject, context.DeadlineExceeded)
	case <-t.closed:
		t.replies.remove(id)
		return nil, mapErr(req.Subject, nats.ErrConnectionClosed)
	}
}
