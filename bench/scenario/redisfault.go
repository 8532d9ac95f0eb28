package scenario

import (
	"context"
	"fmt"
	"net"
	"strconv"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/redis/go-redis/v9"

	"github.com/catga-go/catga/bench/harness"
	"github.com/catga-go/catga/libs/catga/rediscluster"
	"github.com/catga-go/catga/libs/catga/saga"
	sredis "github.com/catga-go/catga/libs/catga/sagastore/redis"
)

// redisMasterFault runs 3-step sagas open loop at rate on a local 6-node
// Redis Cluster (cluster-node-timeout 1 s), SIGKILLs one master a second
// in, and returns the time from the kill to the first completed saga that
// started after it and whose record lives on the killed master's slots
// (its replica took them over), the slowest saga, and the share of sagas
// whose Run failed. It also returns the cluster's node timeout.
func redisMasterFault(ctx context.Context, rate int) (restored, worst time.Duration, failed float64, nodeTimeout time.Duration, err error) {
	// The killed node's dial failures are the expected outcome here, not
	// news: go-redis would log each.
	redis.SetLogger(quietRedis{})
	c, err := rediscluster.New(rediscluster.Config{})
	if err != nil {
		return 0, 0, 0, 0, err
	}
	defer c.Close()
	nodeTimeout = c.NodeTimeout
	// The timeouts the saga store's own failover test uses: a request to a
	// dead node fails fast and is retried on the new topology.
	client := c.Client(&redis.ClusterOptions{DialTimeout: 300 * time.Millisecond, ReadTimeout: 500 * time.Millisecond,
		WriteTimeout: 500 * time.Millisecond, MaxRetries: 2, MinRetryBackoff: 20 * time.Millisecond, MaxRetryBackoff: 200 * time.Millisecond})
	defer func() { _ = client.Close() }()
	store := sredis.New(client)
	defer func() { _ = store.Close() }()
	e := saga.New(store)
	defer func() { _ = e.Close(context.Background()) }()
	noop := func(context.Context, *sagaData) error { return nil }
	s, err := saga.Register(e, saga.Definition[sagaData]{Name: "bench-redis-failover", Steps: []saga.Step[sagaData]{
		{Name: "a", Action: noop, Compensate: noop}, {Name: "b", Action: noop, Compensate: noop}, {Name: "c", Action: noop},
	}})
	if err != nil {
		return 0, 0, 0, 0, err
	}
	if err := e.Start(); err != nil {
		return 0, 0, 0, 0, err
	}
	for range 20 { // warm up connections and scripts
		if _, err := s.Run(ctx, "", sagaData{}); err != nil {
			return 0, 0, 0, 0, err
		}
	}
	victim, err := c.MasterFor(ctx, store.Key("probe"))
	if err != nil {
		return 0, 0, 0, 0, err
	}
	shards, err := client.ClusterShards(ctx).Result()
	if err != nil {
		return 0, 0, 0, 0, err
	}
	var owned [][2]int64
	for _, sh := range shards {
		for _, n := range sh.Nodes {
			if n.Role == "master" && net.JoinHostPort(n.IP, strconv.FormatInt(n.Port, 10)) == victim.Addr {
				for _, r := range sh.Slots {
					owned = append(owned, [2]int64{r.Start, r.End})
				}
			}
		}
	}
	if len(owned) == 0 {
		return 0, 0, 0, 0, fmt.Errorf("catga: bench: no slots served by %s", victim.Addr)
	}
	onVictim := func(key string) bool {
		k := int64(rediscluster.Slot(key))
		for _, r := range owned {
			if k >= r[0] && k <= r[1] {
				return true
			}
		}
		return false
	}
	var mu sync.Mutex
	var samples []sample
	var at time.Time
	go func() {
		time.Sleep(time.Second)
		mu.Lock()
		at = time.Now()
		mu.Unlock()
		c.Kill(victim)
	}()
	res, err := harness.OpenLoop(ctx, harness.LoadConfig{Rate: rate, Duration: 6 * time.Second, Timeout: 10 * time.Second}, func(ctx context.Context, _ uint64) error {
		id := uuid.NewString()
		smp := sample{start: time.Now()}
		_, smp.err = s.Run(ctx, id, sagaData{ID: id})
		smp.end = time.Now()
		if onVictim(store.Key(id)) {
			mu.Lock()
			samples = append(samples, smp)
			mu.Unlock()
		}
		return smp.err
	})
	if err != nil {
		return 0, 0, 0, nodeTimeout, err
	}
	mu.Lock()
	defer mu.Unlock()
	restored, ok := firstAnswerAfter(samples, at)
	if !ok {
		return 0, 0, 0, nodeTimeout, fmt.Errorf("catga: bench: no saga on the killed master's slots completed after the kill (%d tried)", len(samples))
	}
	return restored, res.Latency.Max(), res.ErrorShare(), nodeTimeout, nil
}

// quietRedis drops go-redis's log lines.
type quietRedis struct{}

func (quietRedis) Printf(context.Context, string, ...any) {}
