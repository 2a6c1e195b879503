package httpapi_test

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/kairos-platform/identity/pkg/testkit"
	"github.com/kairos-platform/identity/services/auth-api/internal/auth"
	"github.com/kairos-platform/identity/services/auth-api/internal/httpapi"
)

var (
	deviceKey  = bytes.Repeat([]byte{1}, 32)
	deviceKey2 = bytes.Repeat([]byte{2}, 32)
)

// deviceHarness: device cookies for an hour, a ceiling of 10, clients
// behind a trusted proxy on loopback (their address in X-Forwarded-For).
func deviceHarness(t *testing.T, clock *testkit.Clock) *harness {
	t.Helper()
	return newHarnessRules(t, cheap, func(c *auth.Config) { c.MaxAccountFailures = 10; c.Now = clock.Now },
		func(o *httpapi.Options) {
			o.DeviceCookies = httpapi.NewDeviceCookies([][]byte{deviceKey}, time.Hour, clock.Now)
			o.ClientIP = httpapi.ClientIP{Trusted: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}}
		})
}

// loginFrom logs in from the client address ip, sending cookie (if any).
func (h *harness) loginFrom(t *testing.T, email, password, ip, cookie string) *httptest.ResponseRecorder {
	t.Helper()
	hdr := http.Header{"X-Forwarded-For": {ip}}
	if cookie != "" {
		hdr.Set("Cookie", "kairos_device="+cookie)
	}
	return h.do(t, request{method: "POST", path: "/api/login/", remote: "127.0.0.1:5000", header: hdr,
		body: `{"email":` + quote(email) + `,"password":` + quote(password) + `}`})
}

func deviceCookieOf(t *testing.T, rec *httptest.ResponseRecorder) *http.Cookie {
	t.Helper()
	for _, c := range rec.Result().Cookies() {
		if c.Name == "kairos_device" {
			return c
		}
	}
	t.Fatalf("no kairos_device cookie: %v", rec.Header())
	return nil
}

func (h *harness) verifiedAccount(t *testing.T, username, email string) {
	t.Helper()
	h.signup(t, username, email, goodPassword)
	if rec := h.do(t, request{method: "GET", path: "/api/verify/" + h.lastToken(t) + "/"}); rec.Code != 200 {
		t.Fatalf("verify %s: %d", email, rec.Code)
	}
}

// At the account-wide ceiling only the owner's device gets in; a forged,
// expired or other account's cookie counts for nothing; and every answer is
// the same for an unknown address as for a known one.
func TestDeviceCookieAfterTheCeiling(t *testing.T) {
	t.Parallel()
	clock := testkit.NewClock(time.Now())
	h := deviceHarness(t, clock)
	h.verifiedAccount(t, "a", "a@example.com")
	h.verifiedAccount(t, "b", "b@example.com")

	rec := h.loginFrom(t, "a@example.com", goodPassword, "198.51.100.1", "")
	if rec.Code != 200 {
		t.Fatalf("owner's first login: %d %s", rec.Code, body(rec))
	}
	own := deviceCookieOf(t, rec)
	if !own.HttpOnly || !own.Secure || own.SameSite != http.SameSiteStrictMode || own.Path != "/api/login" || own.MaxAge != 3600 {
		t.Fatalf("cookie attributes: %+v", own)
	}
	other := deviceCookieOf(t, h.loginFrom(t, "b@example.com", goodPassword, "198.51.100.2", "")).Value
	expired := deviceCookieOf(t, h.loginFrom(t, "a@example.com", goodPassword, "198.51.100.3", "")).Value
	clock.Add(time.Hour) // expired's end, and own's
	own = deviceCookieOf(t, h.loginFrom(t, "a@example.com", goodPassword, "198.51.100.1", own.Value))
	forged := own.Value[:len(own.Value)-2] + "AA"

	// Ten addresses, one guess each, on the account and on an unknown address.
	var answers []string
	for _, email := range []string{"a@example.com", "nobody@example.com"} {
		for i := range 10 {
			if rec := h.loginFrom(t, email, "wrong-password", "192.0.2."+strconv.Itoa(i+1), ""); rec.Code != 401 {
				t.Fatalf("%s guess %d: %d", email, i, rec.Code)
			}
		}
		rec := h.loginFrom(t, email, goodPassword, "203.0.113.1", "")
		if rec.Code != 429 || len(rec.Result().Cookies()) != 0 {
			t.Fatalf("%s at the ceiling: %d %v", email, rec.Code, rec.Header())
		}
		answers = append(answers, rec.Header().Get("Retry-After")+" "+body(rec))
	}
	if answers[0] != answers[1] {
		t.Fatalf("known and unknown addresses answered apart:\n%s\n%s", answers[0], answers[1])
	}
	for name, c := range map[string]string{"forged": forged, "expired": expired, "other account": other, "garbage": "x.y.z"} {
		if rec := h.loginFrom(t, "a@example.com", goodPassword, "203.0.113.1", c); rec.Code != 429 {
			t.Errorf("%s cookie at the ceiling: %d, want 429", name, rec.Code)
		}
	}
	rec = h.loginFrom(t, "a@example.com", goodPassword, "203.0.113.1", own.Value)
	if rec.Code != 200 {
		t.Fatalf("owner's device at the ceiling: %d %s", rec.Code, body(rec))
	}
	// The same device keeps its id; its cookie is renewed.
	if renewed := deviceCookieOf(t, rec).Value; strings.Split(renewed, ".")[1] != strings.Split(own.Value, ".")[1] {
		t.Fatalf("device id changed: %s → %s", own.Value, renewed)
	}
}

// Keys rotate: a cookie signed by a key still listed verifies; one signed by
// a key no longer listed does not. Key files are checked.
func TestDeviceKeyRotation(t *testing.T) {
	t.Parallel()
	clock := testkit.NewClock(time.Now())
	h := deviceHarness(t, clock)
	h.verifiedAccount(t, "a", "a@example.com")
	v := deviceCookieOf(t, h.loginFrom(t, "a@example.com", goodPassword, "198.51.100.1", "")).Value
	if d, ok := httpapi.NewDeviceCookies([][]byte{deviceKey2, deviceKey}, time.Hour, clock.Now).Check(v); !ok || d.UID == "" {
		t.Fatal("cookie of a retired-but-listed key rejected")
	}
	if _, ok := httpapi.NewDeviceCookies([][]byte{deviceKey2}, time.Hour, clock.Now).Check(v); ok {
		t.Fatal("cookie of an unlisted key accepted")
	}
	if httpapi.NewDeviceCookies(nil, time.Hour, nil) != nil {
		t.Fatal("no keys should mean no device cookies")
	}
	good := "# current\nAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE=\n\nAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgI\n"
	if keys, err := httpapi.ParseDeviceKeys([]byte(good)); err != nil || len(keys) != 2 || !bytes.Equal(keys[0], deviceKey) {
		t.Fatalf("ParseDeviceKeys = %d keys, %v", len(keys), err)
	}
	for _, bad := range []string{"", "# only a comment\n", "not base64!\n", "AQEBAQ==\n"} {
		if _, err := httpapi.ParseDeviceKeys([]byte(bad)); err == nil {
			t.Errorf("ParseDeviceKeys(%q) accepted", bad)
		}
	}
}
