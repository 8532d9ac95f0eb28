package topology_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/catga-go/catga/e2e/topology"
)

// redisOutageBound bounds the write outage when a Redis master dies.
const redisOutageBound = 5 * time.Second

// TestScenarioKillRedisMaster kills (SIGKILL) a Redis master while orders
// flow and a probe inside the network writes saga records into that
// master's hash slots through the chassis' saga store every 20 ms: its
// replica must be promoted, and the probe's writes must succeed again
// within redisOutageBound of the kill (cluster failover plus the client's
// slot-map reload, go-redis#3979). The orders' sagas resume: every order
// finishes and the books balance.
func TestScenarioKillRedisMaster(t *testing.T) {
	if testing.Short() {
		t.Skip("e2e: -short runs no containers")
	}
	topo := topology.Start(t, topology.Options{})
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	c := newClient()

	nodes, err := topo.RedisNodes(ctx, 0)
	if err != nil {
		t.Fatal(err)
	}
	// A master other than node 0, through which the test reads the cluster.
	var master, replica topology.RedisNode
	for _, n := range nodes {
		if n.Master && n.Index > 0 && len(n.Slots) > 0 && master.ID == "" {
			master = n
		}
	}
	for _, n := range nodes {
		if n.MasterID == master.ID && master.ID != "" {
			replica = n
		}
	}
	if master.ID == "" || replica.ID == "" {
		t.Fatalf("no master with a replica (other than node 0) in %+v", nodes)
	}
	lo, hi := master.Slots[0][0], master.Slots[0][1]

	balances := flowBalances()
	stocked := map[string]int64{"widget": 100_000}
	if err := openBooks(ctx, c, topo, balances, stocked); err != nil {
		t.Fatalf("setup: %v", err)
	}
	probe, err := topo.StartRedisProbe(ctx, t, lo, hi, 20*time.Millisecond, 20*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	f := startFlow(ctx, c, topo.Peers["order"], "rediskill", 4, 100*time.Millisecond, 2000)
	time.Sleep(3 * time.Second)

	killAt := time.Now()
	if err := topo.KillRedis(ctx, master.Index); err != nil {
		t.Fatal(err)
	}
	promoted := time.Duration(-1)
	for time.Since(killAt) < 20*time.Second {
		now, err := topo.RedisNodes(ctx, 0)
		if err == nil && promotedNode(now, replica.ID, lo) {
			promoted = time.Since(killAt)
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	time.Sleep(time.Until(killAt.Add(10 * time.Second)))
	placed, failed := f.stop()
	for _, err := range failed {
		t.Errorf("place: %v", err)
	}
	writes, err := probe.Wait(ctx)
	if err != nil {
		t.Fatalf("probe: %v", err)
	}

	// The outage: the longest time without a successful write around the
	// kill (the probe writes every 20 ms when all is well).
	var (
		before, after, errs int
		oks                 []time.Time
		lastErr             string
	)
	for _, w := range writes {
		switch {
		case w.Err != "":
			errs++
			lastErr = w.Err
		case w.At.Before(killAt):
			before++
			oks = append(oks, w.At)
		default:
			after++
			oks = append(oks, w.At)
		}
	}
	outage, outageAt := largestGap(oks, killAt.Add(-time.Second), killAt.Add(9*time.Second))
	settleAt := time.Now()
	b := checkBooks(ctx, t, c, topo, placed, balances, stocked, 2*time.Minute)
	if t.Failed() {
		explainUnexpected(ctx, t, c, topo, placed)
	}
	fmt.Printf("scenario kill Redis master: killed redis-%d (slots %d-%d) under %d orders: replica redis-%d promoted after %s, "+
		"probe writes into those slots: %d before the kill, %d after it, %d failed, write outage %s (from %+.3fs); "+
		"%d completed, %d cancelled %v, all settled and checked in %s\n",
		master.Index, lo, hi, len(placed), replica.Index, promoted.Round(time.Millisecond), before, after, errs,
		outage.Round(time.Millisecond), outageAt.Sub(killAt).Seconds(), b.completed, b.cancelled, b.reasons, time.Since(settleAt).Round(time.Millisecond))
	if before == 0 {
		t.Errorf("the probe wrote nothing before the kill: it measured nothing")
	}
	if promoted < 0 {
		t.Errorf("replica redis-%d not promoted within 20 s", replica.Index)
	}
	if after == 0 || outage > redisOutageBound {
		t.Errorf("write outage %s (%d writes succeeded after the kill; last error %q), want under %s", outage, after, lastErr, redisOutageBound)
	}
}

// promotedNode reports whether node id is a master holding slot s.
func promotedNode(nodes []topology.RedisNode, id string, s int) bool {
	for _, n := range nodes {
		if n.ID == id && n.Master && n.HasSlot(s) {
			return true
		}
	}
	return false
}
