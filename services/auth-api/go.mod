module github.com/kairos-platform/identity/services/auth-api

go 1.26.8
