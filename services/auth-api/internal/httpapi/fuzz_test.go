package httpapi_test

import (
	"context"
	"encoding/json"
	"net/http/httptest"
	"net/mail"
	"strings"
	"sync"
	"testing"
	"unicode/utf8"

	"github.com/kairos-platform/identity/services/auth-api/internal/auth"
	"github.com/kairos-platform/identity/services/auth-api/internal/auth/passwords"
	"github.com/kairos-platform/identity/services/auth-api/internal/httpapi"
)

// acceptingAuth records the signup it is asked for and accepts it.
type acceptingAuth struct {
	fakeAuth
	mu   sync.Mutex
	last *auth.Signup
}

func (a *acceptingAuth) Signup(_ context.Context, in auth.Signup) (auth.SignupResult, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.last = &in
	return auth.SignupResult{}, nil
}

// FuzzDecodeSignup drives request decoding and validation with arbitrary
// bodies and content types: the answer is always a JSON 200/400/413/415
// (never a 500 or a panic), and whatever reaches the rules obeys them. The
// seed corpus in testdata/fuzz runs in every `go test`.
func FuzzDecodeSignup(f *testing.F) {
	for _, s := range []struct{ ct, body string }{
		{"application/json", `{"username":"john","email":"john@example.com","password":"correct-horse-42"}`},
		{"application/json", `{"username":" j ","email":" J@EXAMPLE.COM ","password":"password","x":[1,{}]}`},
		{"application/json", `{"username":null,"email":1,"password":true}`},
		{"application/json; charset=utf-8", `{"username":"\u00e9\u00e9","email":"a@b","password":"\ud800\udc00abcdefgh"}`},
		{"text/plain", `{}`},
		{"application/json", `[`},
	} {
		f.Add(s.ct, s.body)
	}
	common := passwords.Common()
	fa := &acceptingAuth{}
	h, err := httpapi.New(httpapi.Options{Auth: fa, Policy: auth.Policy{MinPasswordLength: 8, Common: common}})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, contentType, body string) {
		fa.mu.Lock()
		fa.last = nil
		fa.mu.Unlock()
		req := httptest.NewRequest("POST", "/api/signup/", strings.NewReader(body))
		req.Header.Set("Content-Type", contentType)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)

		var out map[string]any
		if err := json.Unmarshal(rec.Body.Bytes(), &out); err != nil {
			t.Fatalf("%d response is not a JSON object: %q", rec.Code, rec.Body)
		}
		switch rec.Code {
		case 200:
			fa.mu.Lock()
			s := fa.last
			fa.mu.Unlock()
			if s == nil {
				t.Fatal("200 without a signup reaching the rules")
			}
			if n := utf8.RuneCountInString(s.Username); n < 1 || n > 100 || strings.TrimSpace(s.Username) != s.Username {
				t.Fatalf("accepted username %q", s.Username)
			}
			if a, err := mail.ParseAddress(s.Email); err != nil || a.Address != s.Email || len(s.Email) > 254*4 {
				t.Fatalf("accepted email %q", s.Email)
			}
			if n := utf8.RuneCountInString(s.Password); n < 8 || n > 256 || common.Contains(s.Password) ||
				strings.EqualFold(s.Password, s.Email) || strings.EqualFold(s.Password, s.Username) {
				t.Fatalf("accepted password of %d characters", n)
			}
		case 400:
			if _, ok := out["message"]; !ok {
				for field, msgs := range out {
					if l, ok := msgs.([]any); !ok || len(l) == 0 || (field != "username" && field != "email" && field != "password") {
						t.Fatalf("400 body %q is neither a message nor a field map", rec.Body)
					}
				}
			}
		case 413, 415:
		default:
			t.Fatalf("status %d for %q %q: %s", rec.Code, contentType, body, rec.Body)
		}
	})
}
