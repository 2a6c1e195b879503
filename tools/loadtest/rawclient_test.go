package main

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
)

// The check client against net/http's server: answers read in full on kept
// connections, the uid and status as sent, and a connection the server
// closes replaced.
func TestCheckClient(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.Header.Get("Authorization") {
		case "Bearer good":
			w.Header().Set("X-User-ID", "u1")
			w.WriteHeader(http.StatusOK)
		case "Bearer closing":
			w.Header().Set("X-User-ID", "u2")
			w.Header().Set("Connection", "close")
			w.WriteHeader(http.StatusOK)
		default:
			w.Header().Set("WWW-Authenticate", "Bearer")
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusUnauthorized)
			_, _ = w.Write([]byte(`{"message":"Invalid or expired access token"}`))
		}
	}))
	defer srv.Close()
	cc, err := newRawClient(srv.URL, 1)
	if err != nil {
		t.Fatal(err)
	}
	defer cc.close()
	tests := []struct {
		token, wantUID string
		wantStatus     int
	}{
		{"good", "u1", 200}, {"bad", "", 401}, {"good", "u1", 200}, {"closing", "u2", 200}, {"good", "u1", 200}, {"bad", "", 401},
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for i, tt := range tests {
		st, uid, err := cc.check(ctx, cc.request(tt.token, tt.wantUID))
		if err != nil || st != tt.wantStatus || uid != tt.wantUID {
			t.Fatalf("request %d (%s): %d %q %v", i, tt.token, st, uid, err)
		}
	}
}
