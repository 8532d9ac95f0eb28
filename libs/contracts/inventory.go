package contracts

import "github.com/catga-go/catga/libs/catga/transport"

// Inventory routes, served by the inventory service; saga steps like the
// payment routes.
var (
	InventoryReserve = transport.NewRoute[Reserve, Reserved]("inventory.reserve")
	InventoryRelease = transport.NewRoute[Release, Released]("inventory.release")
)

// Rejection codes of the inventory routes.
const (
	CodeOutOfStock = "out_of_stock" // some SKU has less available than asked
	CodeUnknownSKU = "unknown_sku"
)

// Line is a quantity of one SKU.
type Line struct {
	SKU      string `json:"sku"`
	Quantity int64  `json:"quantity"` // > 0
}

// Reserve holds every line for an order, or none of them.
type Reserve struct {
	OrderID string `json:"order_id"`
	Lines   []Line `json:"lines"`
}

// Reserved answers a Reserve.
type Reserved struct {
	OrderID string `json:"order_id"`
}

// Release returns what Reserve held for the order to stock. Releasing an
// order that holds nothing is a no-op that succeeds.
type Release struct {
	OrderID string `json:"order_id"`
}

// Released answers a Release.
type Released struct {
	OrderID string `json:"order_id"`
	Lines   []Line `json:"lines"` // what was returned; empty if nothing was held
}
