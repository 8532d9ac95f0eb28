// Command redisprobe writes saga records through the chassis' Redis saga
// store (sagastore/redis over the client the peers make) into the hash
// slots it is given, one write every -every, for -for, and prints one
// line per write: "ok <unix ns>" or "err <unix ns> <error>". The topology
// runs it inside the test's network to measure the write outage when a
// Redis master dies.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/catga-go/catga/libs/catga/rediscluster"
	"github.com/catga-go/catga/libs/catga/sagastore"
	sagaredis "github.com/catga-go/catga/libs/catga/sagastore/redis"
)

func main() {
	addrs := flag.String("addrs", "", "comma-separated seed nodes")
	lo := flag.Int("lo", 0, "lowest hash slot to write to")
	hi := flag.Int("hi", 16383, "highest hash slot to write to")
	every := flag.Duration("every", 20*time.Millisecond, "pause between writes")
	total := flag.Duration("for", time.Minute, "how long to write")
	timeout := flag.Duration("timeout", 2500*time.Millisecond, "bound of one write (the saga engine's: half a lease)")
	dial := flag.Duration("dial", 500*time.Millisecond, "dial timeout (the chassis')")
	io := flag.Duration("io", time.Second, "read and write timeout (the chassis')")
	flag.Parse()
	if *addrs == "" || *lo < 0 || *hi > 16383 || *lo > *hi {
		fmt.Fprintln(os.Stderr, "redisprobe: -addrs and 0 <= -lo <= -hi <= 16383 required")
		os.Exit(2)
	}
	// As the chassis makes it (peer/sagas.go).
	c := redis.NewUniversalClient(&redis.UniversalOptions{Addrs: strings.Split(*addrs, ","), ClientName: "probe-sagas",
		DialTimeout: *dial, DialerRetries: 1, ReadTimeout: *io, WriteTimeout: *io})
	s := sagaredis.New(c, sagaredis.WithPrefix("catga:probe"))
	defer func() { _ = s.Close(); _ = c.Close() }()

	end := time.Now().Add(*total)
	for n := 0; time.Now().Before(end); n++ {
		id := idIn(n, *lo, *hi)
		now := time.Now()
		rec := sagastore.Record{ID: id, Name: "probe", State: sagastore.StateRunning,
			Steps: []sagastore.StepState{{}}, Owner: "probe", Epoch: 1, LeaseUntil: now.Add(time.Hour),
			CreatedAt: now, UpdatedAt: now}
		ctx, cancel := context.WithTimeout(context.Background(), *timeout)
		_, err := s.Create(ctx, rec)
		cancel()
		at := time.Now().UnixNano()
		if err != nil {
			fmt.Printf("err %d %s\n", at, strings.ReplaceAll(err.Error(), "\n", " "))
		} else {
			fmt.Printf("ok %d\n", at)
		}
		time.Sleep(*every)
	}
}

// idIn is the n-th saga id whose record key lands in slots lo..hi.
func idIn(n, lo, hi int) string {
	for k := 0; ; k++ {
		id := "probe-" + strconv.Itoa(n) + "-" + strconv.Itoa(k) + "-" + strconv.FormatInt(time.Now().UnixNano(), 36)
		if s := rediscluster.Slot(id); s >= lo && s <= hi {
			return id
		}
	}
}
