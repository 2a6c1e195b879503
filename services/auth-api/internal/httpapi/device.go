package httpapi

import (
	"bytes"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/kairos-platform/identity/services/auth-api/internal/auth"
)

// deviceCookie marks a browser that logged into an account before (OWASP's
// device cookies): its login attempts are a source of their own, which
// attacks from elsewhere never lock (internal/auth, lockout.go). It is
// scoped to the login path and sent back only there.
const (
	deviceCookie    = "kairos_device"
	deviceCookieMax = 200 // longer values are not ours; ignored unread
	minDeviceKey    = 32  // bytes of an HMAC-SHA256 key
)

// DeviceCookies signs and checks kairos_device cookies: "uid.id.expiry.mac",
// the MAC an HMAC-SHA256 over the rest. The first key signs; every key
// verifies, so keys rotate like the token signing keys (add the new key
// second, then move it first, then drop the old one after DEVICE_COOKIE_TTL).
type DeviceCookies struct {
	keys [][]byte
	ttl  time.Duration
	now  func() time.Time
}

// NewDeviceCookies returns the signer, or nil (no device cookies) when keys
// is empty. now nil means time.Now.
func NewDeviceCookies(keys [][]byte, ttl time.Duration, now func() time.Time) *DeviceCookies {
	if len(keys) == 0 {
		return nil
	}
	if now == nil {
		now = time.Now
	}
	return &DeviceCookies{keys: keys, ttl: ttl, now: now}
}

// ParseDeviceKeys reads a key file: one base64 key of at least 32 bytes per
// line; blank lines and lines starting with # are skipped. Errors never
// quote key material.
func ParseDeviceKeys(data []byte) ([][]byte, error) {
	var keys [][]byte
	for i, line := range bytes.Split(data, []byte("\n")) {
		line = bytes.TrimSpace(line)
		if len(line) == 0 || line[0] == '#' {
			continue
		}
		k, err := base64.StdEncoding.DecodeString(string(line))
		if err != nil {
			if k, err = base64.RawURLEncoding.DecodeString(string(line)); err != nil {
				return nil, fmt.Errorf("line %d is not base64", i+1)
			}
		}
		if len(k) < minDeviceKey {
			return nil, fmt.Errorf("line %d: key of %d bytes, want at least %d (openssl rand -base64 32)", i+1, len(k), minDeviceKey)
		}
		keys = append(keys, k)
	}
	if len(keys) == 0 {
		return nil, errors.New("no key in the file")
	}
	return keys, nil
}

func (d *DeviceCookies) mac(key []byte, payload string) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte("kairos_device.v1|" + payload))
	return m.Sum(nil)
}

// read returns the device a request's cookie claims, or zero when it has
// none that is well signed and unexpired: such a cookie counts for nothing.
func (d *DeviceCookies) read(r *http.Request) auth.Device {
	if d == nil {
		return auth.Device{}
	}
	for _, c := range r.CookiesNamed(deviceCookie) {
		if dev, ok := d.check(c.Value); ok {
			return dev
		}
	}
	return auth.Device{}
}

func (d *DeviceCookies) check(v string) (auth.Device, bool) {
	if len(v) > deviceCookieMax {
		return auth.Device{}, false
	}
	payload, sig, ok := cutLast(v, ".")
	mac, err := base64.RawURLEncoding.DecodeString(sig)
	if !ok || err != nil {
		return auth.Device{}, false
	}
	parts := strings.Split(payload, ".")
	if len(parts) != 3 {
		return auth.Device{}, false
	}
	exp, err := strconv.ParseInt(parts[2], 10, 64)
	if err != nil || !d.now().Before(time.Unix(exp, 0)) {
		return auth.Device{}, false
	}
	for _, k := range d.keys {
		if hmac.Equal(mac, d.mac(k, payload)) {
			return auth.Device{UID: parts[0], ID: parts[1]}, true
		}
	}
	return auth.Device{}, false
}

// remember sets a fresh cookie for uid after a successful login, keeping
// the device id when the request's cookie was this account's already.
func (d *DeviceCookies) remember(w http.ResponseWriter, uid string, claimed auth.Device) {
	if d == nil {
		return
	}
	id := claimed.ID
	if claimed.UID != uid || id == "" {
		b := make([]byte, 16)
		_, _ = rand.Read(b) // never fails (Go 1.24+)
		id = base64.RawURLEncoding.EncodeToString(b)
	}
	payload := uid + "." + id + "." + strconv.FormatInt(d.now().Add(d.ttl).Unix(), 10)
	http.SetCookie(w, &http.Cookie{
		Name: deviceCookie, Value: payload + "." + base64.RawURLEncoding.EncodeToString(d.mac(d.keys[0], payload)),
		Path: "/api/login", MaxAge: int(d.ttl.Seconds()), HttpOnly: true, Secure: true, SameSite: http.SameSiteStrictMode,
	})
}

func cutLast(s, sep string) (before, after string, ok bool) {
	i := strings.LastIndex(s, sep)
	if i < 0 {
		return s, "", false
	}
	return s[:i], s[i+len(sep):], true
}

// loginSource adds where a login comes from: the client address (through
// TRUSTED_PROXIES) and the device its cookie claims.
func (a *api) loginSource(r *http.Request, in auth.Login) auth.Login {
	in.ClientIP, _ = netip.ParseAddr(a.clientIP.Of(r)) // unparseable: zero, one shared "unknown" source
	in.Device = a.devices.read(r)
	return in
}
