package cli

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/redis/go-redis/v9"

	"github.com/catga-go/catga/libs/catga/saga"
	"github.com/catga-go/catga/libs/catga/sagastore"
	"github.com/catga-go/catga/libs/catga/sagastore/natskv"
	sagaredis "github.com/catga-go/catga/libs/catga/sagastore/redis"
)

// conn holds what one invocation opened, closed by Main.
type conn struct {
	nc    *nats.Conn
	js    jetstream.JetStream
	store sagastore.Store
	close func()
}

// setting is a flag's value, else the environment's, else def.
func (a *app) setting(flag, env, def string) string {
	if v := strings.TrimSpace(flag); v != "" {
		return v
	}
	if v := strings.TrimSpace(a.getenv(env)); v != "" {
		return v
	}
	return def
}

func split(s string) []string {
	var out []string
	for v := range strings.SplitSeq(s, ",") {
		if v = strings.TrimSpace(v); v != "" {
			out = append(out, v)
		}
	}
	return out
}

func (a *app) serviceName() string { return a.setting(a.service, EnvService, "order") }

// natsConn connects to NATS once per invocation.
func (a *app) natsConn() (*conn, error) {
	if a.conn != nil {
		return a.conn, nil
	}
	urls := a.setting(a.nats, EnvNATSURL, DefaultNATSURL)
	host, _ := os.Hostname()
	nc, err := nats.Connect(urls, nats.Name("catga-cli@"+host), nats.Timeout(a.timeout), nats.MaxReconnects(0))
	if err != nil {
		return nil, fmt.Errorf("catga: connect to NATS %s: %w", urls, err)
	}
	js, err := jetstream.New(nc)
	if err != nil {
		nc.Close()
		return nil, fmt.Errorf("catga: jetstream: %w", err)
	}
	a.conn = &conn{nc: nc, js: js, close: nc.Close}
	return a.conn, nil
}

// sagaStore opens the saga store of the service: Redis when addresses are
// given, else the service's NATS KV buckets, which must exist (the tool
// never creates a store).
func (a *app) sagaStore(ctx context.Context) (sagastore.Store, error) {
	c, err := a.natsConn()
	if err != nil {
		return nil, err
	}
	if c.store != nil {
		return c.store, nil
	}
	svc := a.serviceName()
	if addrs := split(a.setting(a.redis, EnvRedisAddrs, "")); len(addrs) > 0 {
		rc := redis.NewUniversalClient(&redis.UniversalOptions{Addrs: addrs, ClientName: "catga-cli", DialTimeout: a.timeout})
		s := sagaredis.New(rc, sagaredis.WithPrefix("catga:"+svc)) // as package peer names it
		if err := rc.Ping(ctx).Err(); err != nil {
			_ = s.Close()
			_ = rc.Close()
			return nil, fmt.Errorf("catga: saga store: Redis %v: %w", addrs, err)
		}
		prev := c.close
		c.store, c.close = s, func() { _ = s.Close(); _ = rc.Close(); prev() }
		return s, nil
	}
	bucket := "catga_sagas_" + svc // as package peer names it
	ctx, cancel := a.withTimeout(ctx)
	defer cancel()
	// Open binds the peers' buckets and never creates or reconfigures one.
	s, err := natskv.Open(ctx, c.js, natskv.Config{Bucket: bucket})
	if errors.Is(err, jetstream.ErrBucketNotFound) {
		return nil, fmt.Errorf("%w: no saga store for service %q (NATS KV bucket %s): is it running, or are its sagas in Redis (--redis)?", errRefused, svc, bucket)
	}
	if err != nil {
		return nil, err
	}
	c.store = s
	return s, nil
}

// operator is the saga operator API over the service's store, writing
// history as this tool on this host.
func (a *app) operator(ctx context.Context) (*saga.Operator, error) {
	s, err := a.sagaStore(ctx)
	if err != nil {
		return nil, err
	}
	host, _ := os.Hostname()
	return saga.NewOperator(s, "catga-cli@"+host), nil
}

// since parses a --since value: a duration ago (10m) or an RFC 3339 time.
func since(v string, now time.Time) (time.Time, error) {
	if d, err := time.ParseDuration(v); err == nil {
		if d < 0 {
			return time.Time{}, usagef("--since %s: negative", v)
		}
		return now.Add(-d), nil
	}
	t, err := time.Parse(time.RFC3339, v)
	if err != nil {
		return time.Time{}, usagef("--since %q: want a duration (10m) or an RFC 3339 time", v)
	}
	return t, nil
}
