module github.com/catga-go/catga/services/notification

go 1.26.0

require github.com/catga-go/catga/libs/catga v0.0.0

replace github.com/catga-go/catga/libs/catga => ../../libs/catga
