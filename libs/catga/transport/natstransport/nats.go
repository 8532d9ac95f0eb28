package natstransport

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nats.go/micro"

	"github.com/catga-go/catga/libs/catga"
	"github.com/catga-go/catga/libs/catga/transport"
	"github.com/catga-go/catga/libs/catga/transport/idempotency"
)

// Config describes the connection. Zero durations take the defaults, which
// are tuned to leave a dead server within about a second.
type Config struct {
	// URLs of every server of the cluster. Given one, the client also
	// uses the servers the cluster advertises. Given several, it uses
	// those only: an advertised address of a node that died stays in the
	// client's pool, and a reconnect that picks it spends the whole
	// ConnectTimeout on it (a killed node answers no dial), while a node
	// it was connected to goes to the end of the pool.
	URLs []string
	// Name of the connection, shown by the server.
	Name string
	// NoRandomize tries URLs in the order given (say, the local node
	// first) instead of shuffling them.
	NoRandomize bool
	// ReconnectWait between reconnect attempts to one server. Default 150ms.
	ReconnectWait time.Duration
	// PingInterval and MaxPingsOut detect a dead server: when MaxPingsOut
	// pings are unanswered at the next tick, the client moves on, so it
	// leaves a server that died silently (a killed container sends no FIN)
	// between MaxPingsOut and MaxPingsOut+1 intervals later. Defaults
	// 250ms and 2: within 750 ms, and with the reconnect within a second.
	PingInterval time.Duration
	MaxPingsOut  int
	// ConnectTimeout per dial. Default 2s.
	ConnectTimeout time.Duration
	// DrainTimeout bounds Close. Default 10s.
	DrainTimeout time.Duration
	// Stream is the JetStream stream holding events and dead letters.
	// Default "CATGA_EVENTS", over catga.evt.> and catga.dlq.>.
	Stream string
	// StreamSubjects default to catga.evt.> and catga.dlq.>.
	StreamSubjects []string
	// Replicas of the stream. Default 1; use 3 on a 3-node cluster.
	Replicas int
	// DuplicateWindow of the stream's Nats-Msg-Id deduplication. Default 2m.
	DuplicateWindow time.Duration
	// MaxAge and MaxBytes bound the stream (events and dead letters); past
	// either, the oldest messages go. Defaults 7 days and 1 GiB.
	MaxAge   time.Duration
	MaxBytes int64
	// Idempotency configures the JetStream key-value bucket that Serve
	// deduplicates through by default (see [Transport.IdempotencyStore]).
	// Replicas defaults to the stream's.
	Idempotency KVStoreConfig
	// Service is the name the peer is announced under (nats.go/micro:
	// $SRV.PING/INFO/STATS.<Service>), once per peer, with one endpoint
	// per served subject. Letters, digits, '-' and '_'. Default "catga".
	Service string
	// Version of the service, announced through discovery. Default
	// "0.0.0-dev".
	Version string
	// Metadata is announced through discovery with the peer's id (key
	// "peer", which Metadata cannot override), e.g. the peer's HTTP
	// address, for operators' tools.
	Metadata map[string]string
	// Logger receives connection events. Default discards.
	Logger *slog.Logger
}

// Validate reports every problem with the configuration.
func (c Config) Validate() error {
	var errs []error
	if len(c.URLs) == 0 {
		errs = append(errs, fmt.Errorf("%w: no server URLs", transport.ErrConfig))
	}
	if c.ReconnectWait < 0 || c.PingInterval < 0 || c.ConnectTimeout < 0 || c.DrainTimeout < 0 || c.DuplicateWindow < 0 {
		errs = append(errs, fmt.Errorf("%w: negative duration", transport.ErrConfig))
	}
	if c.Version != "" && !semver.MatchString(c.Version) {
		errs = append(errs, fmt.Errorf("%w: version %q is not a semantic version (want e.g. 1.4.2 or 0.0.0-dev)", transport.ErrConfig, c.Version))
	}
	if c.Service != "" {
		if err := transport.ValidateServiceName(c.Service); err != nil {
			errs = append(errs, err)
		}
	}
	if c.MaxPingsOut < 0 || c.Replicas < 0 || c.MaxAge < 0 || c.MaxBytes < 0 {
		errs = append(errs, fmt.Errorf("%w: negative MaxPingsOut, Replicas, MaxAge or MaxBytes", transport.ErrConfig))
	}
	return errors.Join(errs...)
}

func (c *Config) defaults() {
	set := func(d *time.Duration, v time.Duration) {
		if *d == 0 {
			*d = v
		}
	}
	set(&c.ReconnectWait, 150*time.Millisecond)
	set(&c.PingInterval, 250*time.Millisecond)
	set(&c.ConnectTimeout, 2*time.Second)
	set(&c.DrainTimeout, 10*time.Second)
	set(&c.DuplicateWindow, 2*time.Minute)
	set(&c.MaxAge, 7*24*time.Hour)
	if c.MaxBytes == 0 {
		c.MaxBytes = 1 << 30
	}
	if c.MaxPingsOut == 0 {
		c.MaxPingsOut = 2
	}
	if c.Stream == "" {
		c.Stream = "CATGA_EVENTS"
	}
	if len(c.StreamSubjects) == 0 {
		c.StreamSubjects = []string{"catga.evt.>", "catga.dlq.>"}
	}
	if c.Replicas == 0 {
		c.Replicas = 1
	}
	if c.Version == "" {
		c.Version = "0.0.0-dev"
	}
	if c.Service == "" {
		c.Service = "catga"
	}
	if c.Idempotency.Replicas == 0 {
		c.Idempotency.Replicas = c.Replicas
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
}

// semver is what nats.go/micro accepts as a service version.
var semver = regexp.MustCompile(`^v?(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)(-[0-9A-Za-z.-]+)?(\+[0-9A-Za-z.-]+)?$`)

// ValidVersion reports whether v is a version discovery (nats.go/micro)
// accepts: a semantic version such as 1.4.2 or 0.0.0-dev.
func ValidVersion(v string) bool { return semver.MatchString(v) }

// Transport is a peer on a NATS cluster.
type Transport struct {
	cfg    Config
	nc     *nats.Conn
	js     jetstream.JetStream
	id     string
	closed chan struct{}

	mu        sync.Mutex
	isClosing bool
	streamOK  bool
	subs      map[*servingSub]struct{}
	consumers map[*consumerSub]struct{}

	replies replyMux
	disc    discovery

	storeMu sync.Mutex
	store   *KVStore
}

var _ transport.Transport = (*Transport)(nil)

// Connect dials the cluster. With RetryOnFailedConnect it returns even when
// no server is up yet and keeps trying, without limit, in the background.
func Connect(cfg Config) (*Transport, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg.defaults()
	t := &Transport{
		cfg: cfg, id: uuid.NewString(), closed: make(chan struct{}),
		subs: map[*servingSub]struct{}{}, consumers: map[*consumerSub]struct{}{},
	}
	log := cfg.Logger
	opts := []nats.Option{
		nats.Name(cfg.Name),
		nats.ReconnectWait(cfg.ReconnectWait),
		nats.ReconnectJitter(cfg.ReconnectWait/4, cfg.ReconnectWait/4),
		nats.MaxReconnects(-1),
		nats.RetryOnFailedConnect(true),
		nats.PingInterval(cfg.PingInterval),
		nats.MaxPingsOutstanding(cfg.MaxPingsOut),
		nats.Timeout(cfg.ConnectTimeout),
		nats.DrainTimeout(cfg.DrainTimeout),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) { log.Warn("catga: nats disconnected", "error", err) }),
		nats.ReconnectHandler(func(c *nats.Conn) { log.Info("catga: nats reconnected", "url", c.ConnectedUrlRedacted()) }),
		nats.ClosedHandler(func(*nats.Conn) { close(t.closed) }),
	}
	if cfg.NoRandomize {
		opts = append(opts, nats.DontRandomize())
	}
	if len(cfg.URLs) > 1 {
		opts = append(opts, nats.IgnoreDiscoveredServers()) // see Config.URLs
	}
	nc, err := nats.Connect(strings.Join(cfg.URLs, ","), opts...)
	if err != nil {
		return nil, fmt.Errorf("catga: nats connect: %w", err)
	}
	t.nc = nc
	if t.js, err = jetstream.New(nc); err != nil {
		nc.Close()
		return nil, fmt.Errorf("catga: jetstream: %w", err)
	}
	t.disc.t = t
	if err := t.disc.start(); err != nil {
		nc.Close()
		return nil, err
	}
	return t, nil
}

// IdempotencyStore returns the store Serve deduplicates through unless
// told otherwise: a [KVStore] in the cluster's JetStream, shared by every
// peer, so that a retry reaching another queue member finds the first
// attempt's claim or reply. It is opened on first use.
func (t *Transport) IdempotencyStore() (idempotency.Store, error) {
	t.storeMu.Lock()
	defer t.storeMu.Unlock()
	if t.store != nil {
		return t.store, nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var s *KVStore
	err := retrySetup(ctx, func(ctx context.Context) (err error) {
		s, err = NewKVStore(ctx, t.js, t.cfg.Idempotency)
		return err
	})
	if err != nil {
		return nil, err
	}
	t.store = s
	return s, nil
}

// Conn is the underlying connection.
func (t *Transport) Conn() *nats.Conn { return t.nc }

// ID identifies this peer in discovery metadata ("peer").
func (t *Transport) ID() string { return t.id }

// Request implements transport.Transport.
func (t *Transport) Request(ctx context.Context, req *transport.Msg) (*transport.Msg, error) {
	if parent, deadline, ok := transport.SplitDeadline(ctx); ok {
		return t.requestUntil(parent, deadline, req)
	}
	m, err := t.nc.RequestMsgWithContext(ctx, &nats.Msg{Subject: req.Subject, Header: nats.Header(req.Header), Data: req.Data})
	if err != nil {
		return nil, mapErr(req.Subject, err)
	}
	return &transport.Msg{Subject: m.Subject, Header: transport.Header(m.Header), Data: m.Data}, nil
}

func mapErr(subject string, err error) error {
	switch {
	case errors.Is(err, nats.ErrNoResponders):
		return fmt.Errorf("%w for %s: %w", transport.ErrNoResponders, subject, err)
	case errors.Is(err, context.Canceled):
		return fmt.Errorf("catga: %s: %w", subject, err) // the caller gave up: not a timeout
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, nats.ErrTimeout):
		return fmt.Errorf("%w: %s: %w", transport.ErrTimeout, subject, err)
	case errors.Is(err, nats.ErrConnectionClosed), errors.Is(err, nats.ErrConnectionDraining):
		return fmt.Errorf("%w: %s: %w", transport.ErrClosed, subject, err)
	default:
		return fmt.Errorf("catga: nats %s: %w", subject, err)
	}
}

// PublishDurable implements transport.Transport: a JetStream publish that
// waits for the stream's acknowledgement, deduplicated by Nats-Msg-Id.
func (t *Transport) PublishDurable(ctx context.Context, msg *transport.Msg) error {
	if err := t.ensureStream(ctx); err != nil {
		return err
	}
	m := &nats.Msg{Subject: msg.Subject, Header: nats.Header(msg.Header), Data: msg.Data}
	ack, err := t.js.PublishMsg(ctx, m)
	if err != nil {
		return fmt.Errorf("catga: publish %s: %w", msg.Subject, err)
	}
	if ack.Duplicate {
		return t.checkDuplicate(ctx, ack, msg)
	}
	return nil
}

// checkDuplicate tells a re-publication (the same message again: nothing
// to do) from an id reused for a different message, which JetStream would
// drop without a word: that is [transport.ErrDuplicateID]. The stream's
// ack names the stored message; reading it costs a round trip, paid on
// duplicates only.
func (t *Transport) checkDuplicate(ctx context.Context, ack *jetstream.PubAck, msg *transport.Msg) error {
	id := msg.Header.Get(transport.HeaderNatsMsgID)
	s, err := t.js.Stream(ctx, ack.Stream)
	if err != nil {
		return fmt.Errorf("catga: publish %s: check duplicate %s: %w", msg.Subject, id, err)
	}
	stored, err := s.GetMsg(ctx, ack.Sequence)
	if err != nil {
		return fmt.Errorf("catga: publish %s: check duplicate %s: %w", msg.Subject, id, err)
	}
	if stored.Subject != msg.Subject || !bytes.Equal(stored.Data, msg.Data) {
		return catga.Permanent(fmt.Errorf("%w: %s on %s (stored as sequence %d on %s)", transport.ErrDuplicateID, id, msg.Subject, ack.Sequence, stored.Subject))
	}
	t.cfg.Logger.Debug("catga: duplicate publish ignored", "subject", msg.Subject, "id", id, "sequence", ack.Sequence)
	return nil
}

// Close shuts the peer down in order, waiting up to DrainTimeout:
//
//  1. the peer leaves discovery (its endpoints stop taking requests), and
//     every serving subscription (Serve, SubscribeBroadcast) and consumer
//     stops taking messages; the server routes new requests to the other
//     members of the queue groups (a request an endpoint still receives is
//     answered busy, and retried elsewhere);
//  2. the messages already delivered here are handled and answered, and
//     the requests those handlers send still get their replies, because
//     the private reply subscription stays open meanwhile;
//  3. then the reply subscription goes, buffered publishes are flushed and
//     the connection closes.
func (t *Transport) Close() error {
	t.mu.Lock()
	if t.isClosing {
		t.mu.Unlock()
		<-t.closed
		return nil
	}
	t.isClosing = true
	subs := make([]transport.Subscription, 0, len(t.consumers)+len(t.subs))
	for c := range t.consumers {
		subs = append(subs, c)
	}
	for s := range t.subs {
		subs = append(subs, s)
	}
	t.mu.Unlock()
	deadline := time.Now().Add(t.cfg.DrainTimeout)
	// Leave discovery at once, rather than once per registration.
	if err := t.disc.stop(); err != nil {
		t.cfg.Logger.Warn("catga: leave discovery", "error", err)
	}
	var wg sync.WaitGroup
	for _, s := range subs {
		wg.Go(func() { _ = s.Close() })
	}
	wg.Wait()
	t.replies.stop()
	// What remains (subscriptions made on Conn directly) drains with the
	// connection; in-flight publishes are flushed first.
	if err := t.nc.Drain(); err != nil && !errors.Is(err, nats.ErrConnectionClosed) {
		t.nc.Close()
	}
	select {
	case <-t.closed:
	case <-time.After(time.Until(deadline) + time.Second):
		t.nc.Close()
		<-t.closed
		return fmt.Errorf("catga: nats drain did not finish within %s", t.cfg.DrainTimeout)
	}
	return nil
}

// Peers lists the instances of service that answer $SRV.PING within wait.
func (t *Transport) Peers(ctx context.Context, service string, wait time.Duration) ([]micro.Ping, error) {
	inbox := t.nc.NewRespInbox()
	ch := make(chan *nats.Msg, 256)
	sub, err := t.nc.ChanSubscribe(inbox, ch)
	if err != nil {
		return nil, err
	}
	defer func() { _ = sub.Unsubscribe() }()
	if err := t.nc.PublishRequest("$SRV.PING."+service, inbox, nil); err != nil {
		return nil, err
	}
	timer := time.NewTimer(wait)
	defer timer.Stop()
	var out []micro.Ping
	for {
		select {
		case m := <-ch:
			var p micro.Ping
			if err := jsonUnmarshal(m.Data, &p); err == nil {
				out = append(out, p)
			}
		case <-timer.C:
			return out, nil
		case <-ctx.Done():
			return out, ctx.Err()
		}
	}
}
