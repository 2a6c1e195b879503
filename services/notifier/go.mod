module github.com/kairos-platform/identity/services/notifier

go 1.26.8

replace github.com/kairos-platform/identity/pkg => ../../pkg
