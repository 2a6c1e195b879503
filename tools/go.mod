module github.com/kairos-platform/identity/tools

go 1.26.8

replace (
	github.com/kairos-platform/identity/pkg => ../pkg
	github.com/kairos-platform/identity/migrations => ../migrations
)
