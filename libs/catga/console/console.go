package console

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/catga-go/catga/libs/catga/saga"
	"github.com/catga-go/catga/libs/catga/sagastore"
)

// DefaultPrefix is the path the console is served under.
const DefaultPrefix = "/console"

// CountCap is where the counts of a state stop: "500+" means 500 or more.
const CountCap = 500

// PageSize is the number of sagas a listing shows.
const PageSize = 50

// Operator is what the console needs of a saga engine; *saga.Engine
// implements it.
//
// Contract: ListPage pages through the sagas of a state reading the
// store's indexes (see sagastore.Store, ListPage); Retry and
// ForceCompensate return an error matching saga.ErrInvalidState when the
// saga's state does not allow the action, and sagastore.ErrNotFound for an
// unknown id; Shapes names the registered definitions.
type Operator interface {
	Get(ctx context.Context, id string) (saga.Record, error)
	ListPage(ctx context.Context, state saga.State, cursor string, limit int) (sagastore.Page, error)
	Retry(ctx context.Context, id string) error
	ForceCompensate(ctx context.Context, id string) error
	Shapes() []saga.Shape
}

var _ Operator = (*saga.Engine)(nil)

// Option configures [New].
type Option func(*Console)

// WithPrefix serves the console under prefix instead of [DefaultPrefix].
func WithPrefix(prefix string) Option {
	return func(c *Console) { c.prefix = "/" + strings.Trim(prefix, "/") }
}

// WithTitle names what the console shows (the service), in headings.
func WithTitle(title string) Option { return func(c *Console) { c.title = title } }

// WithRefresh sets how often open pages are brought up to date (default
// 1s).
func WithRefresh(d time.Duration) Option { return func(c *Console) { c.refresh = d } }

// WithReadOnly serves the pages without the operator actions: they are
// neither shown nor accepted.
func WithReadOnly() Option { return func(c *Console) { c.readOnly = true } }

// WithLogger logs operator actions and failures (default: discard).
func WithLogger(l *slog.Logger) Option { return func(c *Console) { c.log = l } }

// WithDone ends the console's live streams when done is closed (a peer's
// shutdown), so they do not hold the HTTP server's graceful shutdown.
func WithDone(done <-chan struct{}) Option { return func(c *Console) { c.done = done } }

// maxStream bounds one live stream; the browser reconnects by itself.
const maxStream = 5 * time.Minute

// Console is the console's HTTP handler.
type Console struct {
	ops      Operator
	prefix   string
	title    string
	refresh  time.Duration
	readOnly bool
	log      *slog.Logger
	done     <-chan struct{}

	mux   *http.ServeMux
	pages *template.Template

	countsMu sync.Mutex
	counts   counts // the last figures, shared by every page for one refresh
}

//go:embed assets
var assets embed.FS

// New returns the console over ops, to be mounted at its prefix and every
// path under it (mux.Handle(c.Prefix()+"/", c)).
func New(ops Operator, opts ...Option) *Console {
	c := &Console{ops: ops, prefix: DefaultPrefix, title: "sagas", refresh: time.Second,
		log: slog.New(slog.DiscardHandler)}
	for _, o := range opts {
		o(c)
	}
	if c.refresh <= 0 {
		c.refresh = time.Second
	}
	c.pages = template.Must(template.New("").Funcs(funcs).ParseFS(assets, "assets/*.html"))
	static, _ := fs.Sub(assets, "assets/static") // a constant path: cannot fail

	p := c.prefix
	c.mux = http.NewServeMux()
	c.mux.Handle("GET "+p+"/static/", cacheable(http.StripPrefix(p+"/static/", http.FileServerFS(static))))
	c.mux.HandleFunc("GET "+p+"/{$}", c.overview)
	c.mux.HandleFunc("GET "+p+"/sagas/{id}", c.detail)
	c.mux.HandleFunc("GET "+p+"/live", c.live)
	guard := http.NewCrossOriginProtection()
	guard.SetDenyHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c.log.WarnContext(r.Context(), "console: cross-origin action refused", "path", r.URL.Path,
			"origin", r.Header.Get("Origin"), "sec_fetch_site", r.Header.Get("Sec-Fetch-Site"))
		c.fail(w, r, http.StatusForbidden, "Refused: this action came from another site. Use the console's own page.")
	}))
	c.mux.Handle("POST "+p+"/sagas/{id}/{action}", guard.Handler(http.HandlerFunc(c.act)))
	c.mux.HandleFunc(p, func(w http.ResponseWriter, r *http.Request) { http.Redirect(w, r, p+"/", http.StatusFound) })
	return c
}

// Prefix is the path the console is served under, without a trailing
// slash.
func (c *Console) Prefix() string { return c.prefix }

// ServeHTTP implements http.Handler.
func (c *Console) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	// Nothing but the console's own assets, never in a frame (a hidden
	// frame could trick a click on a confirmation).
	h.Set("Content-Security-Policy", "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'; form-action 'self'; base-uri 'none'")
	h.Set("X-Frame-Options", "DENY")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "same-origin")
	c.mux.ServeHTTP(w, r)
}

func cacheable(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "public, max-age=300")
		h.ServeHTTP(w, r)
	})
}

// actions the console offers: the path segment, what the engine does, and
// the words the pages use.
var actions = map[string]struct {
	do    func(Operator, context.Context, string) error
	verb  string // button
	done  string // flash after success
	allow func(saga.State) bool
}{
	"retry": {Operator.Retry, "Retry compensation", "Retried: the saga compensates again.",
		func(s saga.State) bool { return s == sagastore.StateStuck }},
	"compensate": {Operator.ForceCompensate, "Force compensation", "Compensation forced: the saga undoes its steps.",
		func(s saga.State) bool { return s == sagastore.StateRunning || s == sagastore.StateStuck }},
}

// act runs an operator action. Only a request confirming the saga's id
// acts; any other POST gets the confirmation page.
func (c *Console) act(w http.ResponseWriter, r *http.Request) {
	id, name := r.PathValue("id"), r.PathValue("action")
	a, ok := actions[name]
	if !ok {
		c.fail(w, r, http.StatusNotFound, fmt.Sprintf("No action %q.", name))
		return
	}
	if c.readOnly {
		c.fail(w, r, http.StatusForbidden, "This console is read-only.")
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, 4<<10)
	if err := r.ParseForm(); err != nil {
		c.fail(w, r, http.StatusBadRequest, "Unreadable form.")
		return
	}
	if r.PostForm.Get("confirm") != id {
		rec, err := c.ops.Get(r.Context(), id)
		if err != nil {
			c.readFailed(w, r, id, err)
			return
		}
		c.render(w, r, http.StatusOK, "confirm", page{Title: a.verb, Confirm: &confirmView{
			Action: name, Verb: a.verb, Saga: summarize(rec, c.shapes()), Allowed: a.allow(rec.State)}})
		return
	}
	err := a.do(c.ops, r.Context(), id)
	c.log.InfoContext(r.Context(), "console: operator action", "saga", id, "action", name, "err", err)
	switch {
	case errors.Is(err, sagastore.ErrNotFound):
		c.fail(w, r, http.StatusNotFound, fmt.Sprintf("No saga %q.", id))
	case errors.Is(err, saga.ErrInvalidState):
		c.fail(w, r, http.StatusConflict, fmt.Sprintf("Not done: %v. The page shows the saga as it is now.", err))
	case err != nil:
		c.fail(w, r, http.StatusServiceUnavailable, fmt.Sprintf("Not done: %v. Try again.", err))
	default:
		c.invalidate()
		http.Redirect(w, r, c.prefix+"/sagas/"+urlPath(id)+"?done="+name, http.StatusSeeOther)
	}
}

func (c *Console) readFailed(w http.ResponseWriter, r *http.Request, id string, err error) {
	if errors.Is(err, sagastore.ErrNotFound) {
		c.fail(w, r, http.StatusNotFound, fmt.Sprintf("No saga %q.", id))
		return
	}
	c.log.WarnContext(r.Context(), "console: reading sagas failed", "err", err)
	c.fail(w, r, http.StatusServiceUnavailable, fmt.Sprintf("The saga store did not answer: %v", err))
}

// fail renders the error page.
func (c *Console) fail(w http.ResponseWriter, r *http.Request, status int, msg string) {
	c.render(w, r, status, "error", page{Title: http.StatusText(status), Error: msg})
}

func (c *Console) render(w http.ResponseWriter, r *http.Request, status int, name string, p page) {
	p.Prefix, p.Service, p.ReadOnly = c.prefix, c.title, c.readOnly
	var b strings.Builder
	if err := c.pages.ExecuteTemplate(&b, name, p); err != nil {
		c.log.ErrorContext(r.Context(), "console: rendering failed", "page", name, "err", err)
		http.Error(w, "rendering failed", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = w.Write([]byte(b.String()))
}
