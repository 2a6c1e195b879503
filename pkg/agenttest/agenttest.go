// Package agenttest is a fake of the Kairos Agent's user API
// (POST, PATCH and DELETE /users/{uid} with X-Service-Token), recording every call and able to
// fail or stall on command, for the notifier's tests and the load and fault
// tools.
package agenttest

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"time"
)

// User is the body the Agent receives.
type User struct {
	UID      string `json:"uid"`
	Username string `json:"username"`
	Email    string `json:"email"`
}

// Call is one request the fake received.
type Call struct {
	Method      string
	UID         string
	Token       string
	TraceParent string
	Body        User
	Status      int
	At          time.Time
}

// Server is a running fake Agent.
type Server struct {
	URL   string
	token string
	srv   *httptest.Server

	mu       sync.Mutex
	calls    []Call
	users    map[string]User
	status   int            // when non-zero, every call answers this
	byMethod map[string]int // when set for a method, its calls answer this
	failNext []int
	delay    time.Duration
	notify   chan struct{}
}

// Start serves the fake on a loopback port; token is the expected
// X-Service-Token.
func Start(token string) *Server {
	s := &Server{token: token, users: map[string]User{}, notify: make(chan struct{})}
	s.srv = httptest.NewServer(http.HandlerFunc(s.serve))
	s.URL = s.srv.URL
	return s
}

// Close stops the server.
func (s *Server) Close() { s.srv.Close() }

// FailNext makes the next len(statuses) calls answer those statuses in order.
func (s *Server) FailNext(statuses ...int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failNext = append(s.failNext, statuses...)
}

// SetStatus makes every call answer status (0 restores normal behaviour).
func (s *Server) SetStatus(status int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.status = status
}

// SetMethodStatus makes every call with method answer status (0 restores
// normal behaviour), e.g. PATCH failing while creations succeed.
func (s *Server) SetMethodStatus(method string, status int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.byMethod == nil {
		s.byMethod = map[string]int{}
	}
	s.byMethod[method] = status
}

// Forget drops a user, as if the Agent had lost or removed it.
func (s *Server) Forget(uid string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.users, uid)
}

// SetDelay makes every call wait d before answering (0 for none).
func (s *Server) SetDelay(d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.delay = d
}

// Calls returns every call received, in order.
func (s *Server) Calls() []Call {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Call(nil), s.calls...)
}

// Users returns the users created so far, by uid.
func (s *Server) Users() map[string]User {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[string]User, len(s.users))
	for k, v := range s.users {
		out[k] = v
	}
	return out
}

// WaitForUsers blocks until at least n users exist or ctx ends.
func (s *Server) WaitForUsers(ctx context.Context, n int) (map[string]User, error) {
	for {
		s.mu.Lock()
		have, ch := len(s.users), s.notify
		s.mu.Unlock()
		if have >= n {
			return s.Users(), nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return nil, fmt.Errorf("agenttest: %d of %d users: %w", have, n, ctx.Err())
		}
	}
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	uid, ok := strings.CutPrefix(r.URL.Path, "/users/")
	call := Call{Method: r.Method, UID: uid, Token: r.Header.Get("X-Service-Token"), TraceParent: r.Header.Get("traceparent"), At: time.Now()}
	_ = json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<20)).Decode(&call.Body)

	s.mu.Lock()
	delay := s.delay
	status := s.status
	if st := s.byMethod[r.Method]; st != 0 && status == 0 {
		status = st
	}
	if len(s.failNext) > 0 {
		status, s.failNext = s.failNext[0], s.failNext[1:]
	}
	s.mu.Unlock()
	if delay > 0 {
		select {
		case <-time.After(delay):
		case <-r.Context().Done():
		}
	}

	var body any
	switch {
	case status != 0:
		body = map[string]string{"detail": "injected failure"}
	case !ok || uid == "" || strings.Contains(uid, "/"):
		status, body = http.StatusNotFound, map[string]string{"detail": "not found"}
	case call.Token != s.token:
		status, body = http.StatusUnauthorized, map[string]string{"detail": "bad service token"}
	case r.Method == http.MethodPatch || r.Method == http.MethodDelete:
		status, body = s.change(r.Method, uid, call.Body)
	case r.Method != http.MethodPost:
		status, body = http.StatusMethodNotAllowed, map[string]string{"detail": "method not allowed"}
	case call.Body.UID != uid:
		status, body = http.StatusBadRequest, map[string]string{"detail": "uid mismatch"}
	default:
		s.mu.Lock()
		_, existed := s.users[uid]
		s.users[uid] = call.Body
		if !existed {
			close(s.notify)
			s.notify = make(chan struct{})
		}
		s.mu.Unlock()
		status = http.StatusCreated
		if existed {
			status = http.StatusOK
		}
		body = map[string]any{"uid": uid, "created": !existed}
	}
	call.Status = status
	s.mu.Lock()
	s.calls = append(s.calls, call)
	close(s.notify) // waiters look again after every call
	s.notify = make(chan struct{})
	s.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	if body != nil {
		_ = json.NewEncoder(w).Encode(body)
	}
}

// change applies a PATCH (email and username) or a DELETE to a known user;
// an unknown one is a 404.
func (s *Server) change(method, uid string, body User) (int, any) {
	s.mu.Lock()
	defer s.mu.Unlock()
	u, ok := s.users[uid]
	if !ok {
		return http.StatusNotFound, map[string]string{"detail": "not found"}
	}
	if method == http.MethodDelete {
		delete(s.users, uid)
	} else {
		u.Email, u.Username = body.Email, body.Username
		s.users[uid] = u
	}
	close(s.notify)
	s.notify = make(chan struct{})
	return http.StatusNoContent, nil
}

// WaitFor blocks until cond holds for the users (checked after every call)
// or ctx ends.
func (s *Server) WaitFor(ctx context.Context, cond func(map[string]User) bool) error {
	for {
		s.mu.Lock()
		ch := s.notify
		s.mu.Unlock()
		if cond(s.Users()) {
			return nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return fmt.Errorf("agenttest: condition not met: %w", ctx.Err())
		}
	}
}
