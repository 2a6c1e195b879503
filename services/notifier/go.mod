module github.com/kairos-platform/identity/services/notifier

go 1.26.8
