// Package console is the saga console: a small web page for operators,
// served by a peer next to its API (peer mounts it under [DefaultPrefix]).
//
// It shows the sagas of the peer's engine by state with counts, a saga's
// timeline drawn as a picture (steps, attempts, compensations, owners and
// durations, as server-rendered SVG), updates itself while open (a
// Server-Sent Events stream of the re-rendered page region; without
// JavaScript the page reloads itself) and offers the operator actions of
// [saga.Engine]: Retry a Stuck saga, ForceCompensate a Running or Stuck one.
//
// Pages are rendered on the server with html/template; the stylesheet and
// the one small script are embedded in the binary and served by the
// handler, so nothing is fetched from elsewhere and there is no build step.
//
// # What it reads
//
// Listings and counts read the store's indexes through the engine, page
// by page ([saga.Engine.ListPage]), not a scan of the store: Completed and
// Compensated sagas through the finished index, a page costing its own
// records; Running, Compensating and Stuck ones through the ids of the due
// and stuck indexes, where a page reads every id of the index and then
// records until the page is full (counting Compensating among many Running
// sagas reads the Running ones' records too). Counts of a state stop at
// [CountCap] ("500+"); the figures are computed at most once every three
// refresh intervals and shared by every open page.
//
// # An operator surface
//
// Retry and ForceCompensate change what a saga does; whoever reaches the
// console can press them. It has no login of its own: expose it only where
// operators are (a private network, or behind the proxy that authenticates
// them), or switch it off (peer: CATGA_CONSOLE=off). Within that, the
// actions are guarded against mistakes and against other sites:
//   - POST only (GET never changes anything);
//   - a confirmation: the request must carry confirm=<saga id>, which only
//     the confirmation dialog (or, without JavaScript, the confirmation
//     page) sends;
//   - cross-site requests are refused (403) by [http.CrossOriginProtection]
//     (Sec-Fetch-Site / Origin against Host), and pages forbid framing and
//     scripts from anywhere but the console (Content-Security-Policy).
//
// [WithReadOnly] serves the pages without the actions.
package console
