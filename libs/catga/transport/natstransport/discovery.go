package natstransport

import (
	"errors"
	"fmt"
	"maps"
	"sync"
	"sync/atomic"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/micro"
)

// discovery is the peer's one nats.go/micro registration: a service named
// Config.Service at Config.Version, with one endpoint per served subject,
// so $SRV.PING/INFO/STATS.<service> list each peer once, with what it
// serves.
//
// An endpoint is not only a record: its subscription is one of the
// registration's workers (see Transport.Serve), so the subject and queue
// group INFO shows are the ones requests travel on. micro cannot remove
// one endpoint from a running service, so closing a registration replaces
// the service by one without it: the new one subscribes before the old one
// drains, and the other subjects never lose this peer.
type discovery struct {
	t *Transport

	// handled counts the requests handled per served subject through both
	// of its subscriptions (micro's num_requests sees only its own); STATS
	// shows it as each endpoint's data, {"handled": N}. A sync.Map: micro
	// reads it holding its service's lock, which remove waits for.
	handled sync.Map // subject -> *atomic.Int64

	mu      sync.Mutex
	svc     micro.Service
	eps     []*endpoint
	stopped bool
}

// endpoint is one served subject as discovery shows it.
type endpoint struct {
	owner   *servingSub
	name    string
	subject string
	queue   string
	handle  func(*nats.Msg)
}

// start registers the peer, with no endpoint yet.
func (d *discovery) start() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	svc, err := d.newService(nil)
	if err != nil {
		return err
	}
	d.svc = svc
	return nil
}

func (d *discovery) newService(eps []*endpoint) (micro.Service, error) {
	cfg := d.t.cfg
	md := maps.Clone(cfg.Metadata)
	if md == nil {
		md = map[string]string{}
	}
	md["peer"] = d.t.id
	svc, err := micro.AddService(d.t.nc, micro.Config{
		Name:        cfg.Service,
		Version:     cfg.Version,
		Description: "Catga peer of " + cfg.Service,
		Metadata:    md,
		StatsHandler: func(ep *micro.Endpoint) any {
			n := int64(0)
			if c, ok := d.handled.Load(ep.Subject); ok {
				n = c.(*atomic.Int64).Load()
			}
			return EndpointData{Handled: n}
		},
	})
	if err != nil {
		return nil, fmt.Errorf("catga: register %s for discovery: %w", cfg.Service, err)
	}
	for _, ep := range eps {
		if err := addEndpoint(svc, ep); err != nil {
			_ = svc.Stop()
			return nil, err
		}
	}
	return svc, nil
}

func addEndpoint(svc micro.Service, ep *endpoint) error {
	h := micro.HandlerFunc(func(r micro.Request) {
		// micro hands over the request, not the message; the worker
		// wants the message to answer it as the other workers do.
		ep.handle(&nats.Msg{Subject: r.Subject(), Reply: r.Reply(), Header: nats.Header(r.Headers()), Data: r.Data()})
	})
	err := svc.AddEndpoint(ep.name, h, micro.WithEndpointSubject(ep.subject), micro.WithEndpointQueueGroup(ep.queue))
	if err != nil {
		return fmt.Errorf("catga: announce %s for discovery: %w", ep.subject, err)
	}
	return nil
}

// EndpointData is the data of each endpoint in $SRV.STATS: Handled
// counts the requests this peer handled on the endpoint's subject, through
// the discovery endpoint and through the peer's other subscription alike
// (micro's num_requests counts only the former's).
type EndpointData struct {
	Handled int64 `json:"handled"`
}

// counter returns the handled-requests counter of subject.
func (d *discovery) counter(subject string) *atomic.Int64 {
	c, _ := d.handled.LoadOrStore(subject, new(atomic.Int64))
	return c.(*atomic.Int64)
}

// add announces ep and starts its worker.
func (d *discovery) add(ep *endpoint) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.stopped || d.svc == nil {
		return fmt.Errorf("catga: serve %s: %w", ep.subject, nats.ErrConnectionClosed)
	}
	if err := addEndpoint(d.svc, ep); err != nil {
		return err
	}
	d.eps = append(d.eps, ep)
	return nil
}

// remove withdraws owner's endpoints: the service is replaced by one
// without them.
func (d *discovery) remove(owner *servingSub) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.stopped {
		return nil
	}
	var rest []*endpoint
	for _, ep := range d.eps {
		if ep.owner != owner {
			rest = append(rest, ep)
		}
	}
	if len(rest) == len(d.eps) {
		return nil
	}
	svc, err := d.newService(rest)
	if err != nil {
		return err
	}
	old := d.svc
	d.svc, d.eps = svc, rest
	return ignoreClosed(old.Stop())
}

// stop withdraws the peer from discovery and stops every endpoint worker.
func (d *discovery) stop() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.stopped {
		return nil
	}
	d.stopped = true
	if d.svc == nil {
		return nil
	}
	return ignoreClosed(d.svc.Stop())
}

func ignoreClosed(err error) error {
	if errors.Is(err, nats.ErrConnectionClosed) {
		return nil
	}
	return err
}
