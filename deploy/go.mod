module github.com/kairos-platform/identity/deploy

go 1.26.8
