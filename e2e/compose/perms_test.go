package compose

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
)

// natsPermissions: payment's user may not send inventory a command (nor
// listen to inventory's routes), order's user may (inventory answers it),
// and a wrong password is refused.
func natsPermissions(ctx context.Context, t *testing.T, s *stack) {
	addrs, err := s.hostPorts(ctx, "nats-0", 4222)
	if err != nil || len(addrs) != 1 {
		t.Fatalf("nats-0 client port: %v %v", addrs, err)
	}
	url := "nats://" + addrs[0]
	// connect returns the connection and what the server refused it: the
	// server's -ERR sets LastError before the PONG that ends Flush (the
	// error callback runs later, on its own goroutine).
	connect := func(user, pw string) (*nats.Conn, func() error) {
		t.Helper()
		nc, err := nats.Connect(url, nats.UserInfo(user, pw), nats.Timeout(5*time.Second), nats.NoReconnect(),
			nats.ErrorHandler(func(*nats.Conn, *nats.Subscription, error) {}))
		if err != nil {
			t.Fatalf("connect as %s: %v", user, err)
		}
		t.Cleanup(nc.Close)
		return nc, func() error {
			if err := nc.FlushTimeout(5 * time.Second); err != nil {
				t.Fatalf("flush as %s: %v", user, err)
			}
			return nc.LastError()
		}
	}

	// The allowed path first: it proves the subject is the real one, so the
	// refusal below is the permission and not a typo.
	order, orderErr := connect("order", s.env["NATS_ORDER_PASSWORD"])
	reply, err := order.Request("catga.cmd.inventory.reserve",
		[]byte(`{"order_id":"smoke-perm","lines":[{"sku":"smoke-no-such-sku","quantity":1}]}`), 10*time.Second)
	if err != nil {
		t.Fatalf("order's user requesting inventory.reserve: %v (async: %v), want an answer from inventory", err, orderErr())
	}
	if err := orderErr(); err != nil {
		t.Fatalf("order's user: %v", err)
	}
	t.Logf("order -> catga.cmd.inventory.reserve answered (%d bytes, headers %v): allowed", len(reply.Data), reply.Header)

	payment, paymentErr := connect("payment", s.env["NATS_PAYMENT_PASSWORD"])
	if err := payment.Publish("catga.cmd.inventory.reserve", []byte(`{}`)); err != nil {
		t.Fatal(err)
	}
	err = paymentErr()
	if !errors.Is(err, nats.ErrPermissionViolation) || !strings.Contains(err.Error(), `Publish to "catga.cmd.inventory.reserve"`) {
		t.Errorf("payment's user publishing to inventory.reserve: server said %v, want a publish permissions violation", err)
	} else {
		t.Logf("payment -> catga.cmd.inventory.reserve refused: %v", err)
	}

	spy, spyErr := connect("payment", s.env["NATS_PAYMENT_PASSWORD"])
	if _, err := spy.SubscribeSync("catga.cmd.inventory.>"); err != nil {
		t.Fatal(err)
	}
	if err := spyErr(); !errors.Is(err, nats.ErrPermissionViolation) || !strings.Contains(err.Error(), `Subscription to "catga.cmd.inventory.>"`) {
		t.Errorf("payment's user subscribing to inventory's routes: %v, want a subscription permissions violation", err)
	}

	_, err = nats.Connect(url, nats.UserInfo("payment", "wrong-"+s.env["NATS_PAYMENT_PASSWORD"]), nats.NoReconnect(),
		nats.Timeout(5*time.Second))
	if !errors.Is(err, nats.ErrAuthorization) {
		t.Errorf("payment with a wrong password: %v, want an authorization violation", err)
	}
}

// redisACL: a service's user reaches its own keys only, and none of the
// commands it has no use for; an unauthenticated client reaches nothing.
func redisACL(ctx context.Context, t *testing.T, s *stack) {
	cli := func(user, pw string, args ...string) string {
		t.Helper()
		all := []string{"exec", "-T"}
		if user != "" {
			all = append(all, "-e", "REDISCLI_AUTH="+pw)
		}
		all = append(all, "redis-0", "redis-cli", "-c", "--no-auth-warning")
		if user != "" {
			all = append(all, "--user", user)
		}
		out, _ := s.compose(ctx, append(all, args...)...) // errors are in the output
		return strings.TrimSpace(out)
	}
	pw := s.env["REDIS_PAYMENT_PASSWORD"]
	tests := []struct {
		name       string
		user, pw   string
		args       []string
		want, deny string // deny: the output must not hold it
	}{
		// Allowed first: the same command on its own keys answers.
		{"own key", "payment", pw, []string{"EXISTS", "catga:payment:saga:{smoke}"}, "0", "NOPERM"},
		{"another service's key", "payment", pw, []string{"EXISTS", "catga:order:saga:{smoke}"}, "NOPERM", ""},
		{"FLUSHALL", "payment", pw, []string{"FLUSHALL"}, "NOPERM", ""},
		{"CONFIG", "payment", pw, []string{"CONFIG", "GET", "maxmemory"}, "NOPERM", ""},
		{"KEYS", "payment", pw, []string{"KEYS", "catga:payment:*"}, "NOPERM", ""},
		{"PUBLISH", "payment", pw, []string{"PUBLISH", "smoke", "x"}, "NOPERM", ""},
		{"no password", "", "", []string{"PING"}, "NOAUTH", "PONG"},
		{"wrong password", "payment", "wrong-" + pw, []string{"PING"}, "WRONGPASS", "PONG"},
	}
	for _, tt := range tests {
		out := cli(tt.user, tt.pw, tt.args...)
		if !strings.Contains(out, tt.want) || (tt.deny != "" && strings.Contains(out, tt.deny)) {
			t.Errorf("redis %s (%s %v): %q, want %q", tt.name, tt.user, tt.args, out, tt.want)
		}
	}
}

// postgresRoles: a service's role enters its own database and no other.
func postgresRoles(ctx context.Context, t *testing.T, s *stack) {
	psql := func(role, pw, db, sql string) string {
		t.Helper()
		out, _ := s.compose(ctx, "exec", "-T", "-e", "PGPASSWORD="+pw, "postgres",
			"psql", "-h", "127.0.0.1", "-U", role, "-d", db, "-tAc", sql)
		return strings.TrimSpace(out)
	}
	pw := s.env["PG_PAYMENT_PASSWORD"]
	// Let into its own database, where the event store made its schema, as
	// a role with no privilege beyond owning that database.
	const who = `SELECT current_user || ' ' || (SELECT count(*) FROM pg_namespace WHERE nspname = 'payment') || ' ' ||
		(SELECT rolsuper OR rolcreatedb OR rolcreaterole OR rolreplication OR rolbypassrls FROM pg_roles WHERE rolname = current_user)`
	if out := psql("catga_payment", pw, "catga_payment", who); out != "catga_payment 1 false" {
		t.Errorf("catga_payment in its own database: %q, want \"catga_payment 1 false\" (in, schema payment there, no role attributes)", out)
	}
	for _, db := range []string{"catga_order", "catga", "postgres"} {
		if out := psql("catga_payment", pw, db, "SELECT 1"); !strings.Contains(out, "permission denied for database") {
			t.Errorf("catga_payment in database %s: %q, want permission denied", db, out)
		}
	}
}
