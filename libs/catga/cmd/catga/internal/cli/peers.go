package cli

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/micro"
	"github.com/spf13/cobra"
	"golang.org/x/sync/errgroup"

	"github.com/catga-go/catga/libs/catga/transport/natstransport"
)

// Peer is one running peer as discovery shows it.
type Peer struct {
	Service   string            `json:"service"`
	ID        string            `json:"id"` // the peer's transport id (its saga owner id)
	Version   string            `json:"version"`
	HTTP      string            `json:"http,omitempty"`
	Host      string            `json:"host,omitempty"`
	Started   time.Time         `json:"started"`
	Uptime    string            `json:"uptime"`
	Requests  int               `json:"requests"` // handled since it started, all endpoints
	Errors    int               `json:"errors"`
	Endpoints []string          `json:"endpoints"` // subjects it serves
	Metadata  map[string]string `json:"metadata,omitempty"`
}

func (a *app) peersCmd() *cobra.Command {
	var wait time.Duration
	cmd := &cobra.Command{
		Use:   "peers [SERVICE]",
		Short: "List every running peer of every service (or of one)",
		Long: `peers asks every peer through nats.go/micro discovery ($SRV.INFO and
$SRV.STATS) and lists each once: its service, id, version, HTTP address and
host, uptime, and the requests it has handled since it started.`,
		Example: `  catga peers
  catga peers payment --json | jq '.[].requests'`,
		Args: func(_ *cobra.Command, args []string) error {
			if len(args) > 1 {
				return usagef("want at most one SERVICE, got %d arguments", len(args))
			}
			return nil
		},
		ValidArgsFunction: a.completeServices,
		RunE: a.run(func(cmd *cobra.Command, args []string) error {
			svc := ""
			if len(args) == 1 {
				svc = args[0]
			}
			peers, err := a.peers(cmd.Context(), svc, wait)
			if err != nil {
				return err
			}
			if len(peers) == 0 && svc != "" {
				return fmt.Errorf("%w: no running peer of service %q", errRefused, svc)
			}
			if a.json {
				return a.printJSON(peers)
			}
			rows := make([][]string, 0, len(peers))
			for _, p := range peers {
				rows = append(rows, []string{p.Service, p.ID, p.Version, cmp.Or(p.HTTP, "-"), cmp.Or(p.Host, "-"), p.Uptime,
					strconv.Itoa(p.Requests), strconv.Itoa(p.Errors), strconv.Itoa(len(p.Endpoints))})
			}
			if err := table(a.io.Out, []string{"SERVICE", "PEER", "VERSION", "HTTP", "HOST", "UPTIME", "REQUESTS", "ERRORS", "ENDPOINTS"}, rows); err != nil {
				return err
			}
			fmt.Fprintf(a.io.Out, "%d peer(s)\n", len(peers))
			return nil
		}),
	}
	cmd.Flags().DurationVar(&wait, "wait", 500*time.Millisecond, "how long to collect the peers' answers")
	return cmd
}

// peers gathers $SRV.INFO and $SRV.STATS answers for wait and joins them
// by micro instance. Only Catga peers (those announcing a "peer" id) are
// listed, sorted by service and id.
func (a *app) peers(ctx context.Context, service string, wait time.Duration) ([]Peer, error) {
	c, err := a.natsConn()
	if err != nil {
		return nil, err
	}
	infoSubj, err := micro.ControlSubject(micro.InfoVerb, service, "")
	if err != nil {
		return nil, usageError{err}
	}
	statsSubj, err := micro.ControlSubject(micro.StatsVerb, service, "")
	if err != nil {
		return nil, usageError{err}
	}
	// Both at once: the answers arrive within one window.
	var infos []micro.Info
	var stats []micro.Stats
	g := errgroup.Group{}
	g.Go(func() (err error) { infos, err = gather[micro.Info](ctx, c.nc, infoSubj, wait); return err })
	g.Go(func() (err error) { stats, err = gather[micro.Stats](ctx, c.nc, statsSubj, wait); return err })
	if err := g.Wait(); err != nil {
		return nil, err
	}
	byID := map[string]micro.Stats{}
	for _, s := range stats {
		byID[s.ID] = s
	}
	now := time.Now()
	var out []Peer
	for _, in := range infos {
		id, ok := in.Metadata["peer"]
		if !ok {
			continue // a micro service that is not a Catga peer
		}
		p := Peer{Service: in.Name, ID: id, Version: in.Version, HTTP: in.Metadata["http"], Host: in.Metadata["host"],
			Metadata: in.Metadata, Endpoints: []string{}, Uptime: "-"}
		for _, ep := range in.Endpoints {
			p.Endpoints = append(p.Endpoints, ep.Subject)
		}
		if st, ok := byID[in.ID]; ok {
			p.Started = st.Started
			p.Uptime = round(now.Sub(st.Started))
			for _, ep := range st.Endpoints {
				// The peer's own count (natstransport.EndpointData) covers
				// every request it handled; num_requests only micro's share.
				var d natstransport.EndpointData
				if json.Unmarshal(ep.Data, &d) == nil && d.Handled > 0 {
					p.Requests += int(d.Handled)
				} else {
					p.Requests += ep.NumRequests
				}
				p.Errors += ep.NumErrors
			}
		}
		out = append(out, p)
	}
	slices.SortFunc(out, func(x, y Peer) int { return cmp.Or(cmp.Compare(x.Service, y.Service), cmp.Compare(x.ID, y.ID)) })
	return out, nil
}

// gather sends one request to subject and collects every answer that
// arrives within wait; answers that do not decode are skipped.
func gather[T any](ctx context.Context, nc *nats.Conn, subject string, wait time.Duration) ([]T, error) {
	inbox := nc.NewRespInbox()
	sub, err := nc.SubscribeSync(inbox)
	if err != nil {
		return nil, fmt.Errorf("catga: discovery: %w", err)
	}
	defer func() { _ = sub.Unsubscribe() }()
	if err := nc.PublishRequest(subject, inbox, nil); err != nil {
		return nil, fmt.Errorf("catga: discovery: %w", err)
	}
	ctx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	var out []T
	for {
		msg, err := sub.NextMsgWithContext(ctx)
		if err != nil {
			if ctx.Err() != nil || errors.Is(err, nats.ErrNoResponders) {
				return out, nil // the window closed, or nobody is there
			}
			return nil, fmt.Errorf("catga: discovery: %w", err)
		}
		var v T
		if json.Unmarshal(msg.Data, &v) == nil {
			out = append(out, v)
		}
	}
}

// completeServices completes a SERVICE argument with the running ones.
func (a *app) completeServices(cmd *cobra.Command, args []string, _ string) ([]string, cobra.ShellCompDirective) {
	if len(args) > 0 {
		return nil, cobra.ShellCompDirectiveNoFileComp
	}
	peers, err := a.peers(cmd.Context(), "", 300*time.Millisecond)
	if err != nil {
		return nil, cobra.ShellCompDirectiveNoFileComp
	}
	var names []string
	for _, p := range peers {
		names = append(names, p.Service)
	}
	slices.Sort(names)
	return slices.Compact(names), cobra.ShellCompDirectiveNoFileComp
}
