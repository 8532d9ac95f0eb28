package scenario

import (
	"context"
	"strings"

	"github.com/catga-go/catga/libs/catga/eventstore/pgembed"
	"github.com/catga-go/catga/libs/catga/rediscluster"
)

// ProductionStores starts a local 6-node Redis Cluster and a durable
// PostgreSQL server and returns the peers' environment pointing at them
// (CATGA_REDIS_ADDRS, CATGA_DATABASE_URL) and a function that stops both.
func ProductionStores(ctx context.Context) (env []string, stop func(), err error) {
	rc, err := rediscluster.New(rediscluster.Config{})
	if err != nil {
		return nil, nil, err
	}
	pg, err := pgembed.Start(ctx, pgembed.Config{Durable: true})
	if err != nil {
		rc.Close()
		return nil, nil, err
	}
	env = []string{"CATGA_REDIS_ADDRS=" + strings.Join(rc.Addrs(), ","), "CATGA_DATABASE_URL=" + pg.URL("postgres")}
	return env, func() { pg.Stop(); rc.Close() }, nil
}
