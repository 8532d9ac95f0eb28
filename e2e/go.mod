module github.com/catga-go/catga/e2e

go 1.26.0

replace github.com/catga-go/catga/libs/catga => ../libs/catga
