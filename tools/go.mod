module github.com/kairos-platform/identity/tools

go 1.26.8
