package httpapi

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/gorilla/mux"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/kairos-platform/identity/services/auth-api/internal/admin"
	"github.com/kairos-platform/identity/services/auth-api/internal/auth"
)

// The admin API: /admin/v1/ on the admin listener only (ADMIN_ADDR, never
// the public one), for operators inside the cluster. Every request needs a
// bearer token of ADMIN_API_TOKEN_FILE; the token's name is the actor of
// the audit rows its actions write.

// AdminToken is one admin API token, kept as its SHA-256 only.
type AdminToken struct {
	Name string
	hash [sha256.Size]byte
}

// MinAdminTokenLength keeps guessable tokens out.
const MinAdminTokenLength = 32

// ParseAdminTokens reads a token file: one "name:token" a line; blank lines
// and lines starting with # are skipped. Errors name the line, never the
// token.
func ParseAdminTokens(data []byte) ([]AdminToken, error) {
	var out []AdminToken
	names := map[string]bool{}
	sc := bufio.NewScanner(bytes.NewReader(data))
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		name, tok, ok := strings.Cut(line, ":")
		switch {
		case !ok || name == "" || strings.Trim(name, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-") != "":
			return nil, fmt.Errorf("line %d: want name:token, the name of letters, digits, '.', '_' or '-'", n)
		case len(tok) < MinAdminTokenLength:
			return nil, fmt.Errorf("line %d (%s): the token is shorter than %d characters", n, name, MinAdminTokenLength)
		case names[name]:
			return nil, fmt.Errorf("line %d: the name %s is used twice", n, name)
		}
		names[name] = true
		out = append(out, AdminToken{Name: name, hash: sha256.Sum256([]byte(tok))})
	}
	if len(out) == 0 {
		return nil, errors.New("no tokens")
	}
	return out, sc.Err()
}

// Admin is the operators' service (internal/admin).
type Admin interface {
	List(ctx context.Context, f admin.Filter) (admin.Page, error)
	Show(ctx context.Context, uid string) (admin.Detail, error)
	Audit(ctx context.Context, f admin.AuditFilter) ([]auth.AuditEntry, error)
	Verify(ctx context.Context, uid string) error
	ResendVerification(ctx context.Context, uid string) error
	Disable(ctx context.Context, uid string) error
	Enable(ctx context.Context, uid string) error
	Unlock(ctx context.Context, uid string) error
	SignOut(ctx context.Context, uid string) error
	Delete(ctx context.Context, uid string) error
}

// AdminOptions configure the admin API.
type AdminOptions struct {
	Admin      Admin
	Tokens     []AdminToken
	Logger     *slog.Logger
	Registerer prometheus.Registerer
	Now        func() time.Time
}

// errAdminToken: no bearer token, or none of the configured ones.
var errAdminToken = errors.New("missing or invalid admin token")

// NewAdmin returns the admin API handler, to be served under /admin/.
func NewAdmin(o AdminOptions) (http.Handler, error) {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	denied := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "kairos_admin_auth_failures_total",
		Help: "Admin API requests refused with 401, by reason (missing or invalid token).",
	}, []string{"reason"})
	denied.WithLabelValues("missing")
	denied.WithLabelValues("invalid")
	if o.Registerer != nil {
		if err := o.Registerer.Register(denied); err != nil {
			return nil, fmt.Errorf("admin metrics: %w", err)
		}
	}
	// The admin port's requests are counted by kairos_admin_actions_total;
	// these collectors only serve observe's log line and are not exported.
	m := &metrics{duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "admin_request_duration_seconds"},
		[]string{"method", "route", "code"}), inFlight: prometheus.NewGauge(prometheus.GaugeOpts{Name: "admin_in_flight"})}
	a := &api{log: o.Logger, metrics: m,
		refusals: newRefusals(o.Logger, o.Now, 0, 0, prometheus.NewGauge(prometheus.GaugeOpts{Name: "admin_held"}))}
	h := &adminAPI{api: a, admin: o.Admin, tokens: o.Tokens, denied: denied, now: o.Now}

	r := mux.NewRouter()
	r.SkipClean(true)
	r.Use(tagRoute)
	r.Handle("/admin/v1/users", h.do(h.list)).Methods(http.MethodGet)
	r.Handle("/admin/v1/users/{uid}", h.do(h.show)).Methods(http.MethodGet)
	r.Handle("/admin/v1/users/{uid}", h.do(h.action(o.Admin.Delete, ""))).Methods(http.MethodDelete)
	for path, act := range map[string]struct {
		fn  func(context.Context, string) error
		msg string
	}{
		"verify":              {o.Admin.Verify, "User verified."},
		"resend-verification": {o.Admin.ResendVerification, "Verification link sent."},
		"disable":             {o.Admin.Disable, "User disabled; every session revoked."},
		"enable":              {o.Admin.Enable, "User enabled."},
		"unlock":              {o.Admin.Unlock, "Login lockout cleared."},
		"sign-out":            {o.Admin.SignOut, "Every session revoked."},
	} {
		r.Handle("/admin/v1/users/{uid}/"+path, h.do(h.action(act.fn, act.msg))).Methods(http.MethodPost)
	}
	r.Handle("/admin/v1/audit", h.do(h.audit)).Methods(http.MethodGet)
	r.NotFoundHandler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { a.fail(w, r, errNotFound) })
	r.MethodNotAllowedHandler = http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		w.Header().Set("Allow", allowedMethods(r, req))
		a.fail(w, req, errMethod(req.Method))
	})
	// The token is checked before routing: without one, no path says
	// whether it exists.
	return observe(o.Logger, m, h.authorize(r)), nil
}

type adminAPI struct {
	*api
	admin  Admin
	tokens []AdminToken
	denied *prometheus.CounterVec
	now    func() time.Time
}

// authorize finds the request's token among the configured ones, comparing
// every one in constant time, and puts its name in the context as the
// actor.
func (h *adminAPI) authorize(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		scheme, tok, _ := strings.Cut(r.Header.Get("Authorization"), " ")
		if !strings.EqualFold(scheme, "Bearer") || tok == "" {
			h.denied.WithLabelValues("missing").Inc()
			h.fail(w, r, errAdminToken)
			return
		}
		sum := sha256.Sum256([]byte(tok))
		name := ""
		for _, t := range h.tokens {
			if subtle.ConstantTimeCompare(sum[:], t.hash[:]) == 1 {
				name = t.Name
			}
		}
		if name == "" {
			h.denied.WithLabelValues("invalid").Inc()
			h.fail(w, r, errAdminToken)
			return
		}
		ctx := auth.WithActor(r.Context(), auth.Actor{Name: "api:" + name, RequestID: requestID(r.Context()),
			ClientIP: ClientIP{}.Of(r)})
		next.ServeHTTP(w, r.WithContext(ctx))
	})
}

// do answers a handler's error through the one error table.
func (h *adminAPI) do(fn func(w http.ResponseWriter, r *http.Request) error) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := fn(w, r); err != nil {
			h.fail(w, r, err)
		}
	})
}

func (h *adminAPI) list(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	f := admin.Filter{Query: q.Get("query"), Status: q.Get("status")}
	if c := q.Get("cursor"); c != "" {
		var err error
		if f.After, err = admin.ParseCursor(c); err != nil {
			return err
		}
	}
	var err error
	if f.Limit, err = limitParam(q.Get("limit")); err != nil {
		return err
	}
	page, err := h.admin.List(r.Context(), f)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, page)
	return nil
}

func (h *adminAPI) show(w http.ResponseWriter, r *http.Request) error {
	d, err := h.admin.Show(r.Context(), mux.Vars(r)["uid"])
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, d)
	return nil
}

// action is a POST (or the DELETE, with no message: 204) on one user.
func (h *adminAPI) action(fn func(context.Context, string) error, msg string) func(http.ResponseWriter, *http.Request) error {
	return func(w http.ResponseWriter, r *http.Request) error {
		if err := fn(r.Context(), mux.Vars(r)["uid"]); err != nil {
			return err
		}
		if msg == "" {
			w.WriteHeader(http.StatusNoContent)
			return nil
		}
		writeJSON(w, http.StatusOK, message{msg})
		return nil
	}
}

type auditResponse struct {
	Entries []auth.AuditEntry `json:"entries"`
	Next    string            `json:"next_cursor,omitempty"`
}

func (h *adminAPI) audit(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	f := admin.AuditFilter{UID: q.Get("uid"), Action: q.Get("action")}
	var err error
	if f.Since, err = admin.Since(q.Get("since"), h.now()); err != nil {
		return err
	}
	if c := q.Get("cursor"); c != "" {
		if f.Before, err = strconv.ParseInt(c, 10, 64); err != nil || f.Before < 1 {
			return &auth.ValidationError{Fields: map[string][]string{"cursor": {"Not a cursor from a previous page."}}}
		}
	}
	if f.Limit, err = limitParam(q.Get("limit")); err != nil {
		return err
	}
	entries, err := h.admin.Audit(r.Context(), f)
	if err != nil {
		return err
	}
	out := auditResponse{Entries: entries}
	limit := f.Limit
	if limit == 0 {
		limit = admin.DefaultLimit
	}
	if n := len(entries); n > 0 && n == limit {
		out.Next = strconv.FormatInt(entries[n-1].ID, 10)
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

func limitParam(v string) (int, error) {
	if v == "" {
		return 0, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil {
		return 0, &auth.ValidationError{Fields: map[string][]string{"limit": {"Must be a whole number."}}}
	}
	return n, nil
}
