package storefence_test

import "github.com/catga-go/catga/libs/catga/eventstore"

func registerAccount(reg *eventstore.Registry) error { return nil }
