package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"time"
)

// api calls auth-api's public endpoints.
type api struct {
	base string
	hc   *http.Client
}

func newAPI(base string, conns int) *api {
	tr := &http.Transport{
		MaxIdleConns:        conns,
		MaxIdleConnsPerHost: conns,
		IdleConnTimeout:     30 * time.Second,
	}
	return &api{base: base, hc: &http.Client{Transport: tr, Timeout: 30 * time.Second}}
}

// post sends a JSON body; xff, when set, is sent as X-Forwarded-For (the
// stack trusts loopback as a proxy, so it stands for many client IPs).
func (a *api) post(ctx context.Context, path string, body any, xff string) (int, bool, []byte, error) {
	st, ra, b, _, err := a.postXFF(ctx, path, body, xff)
	return st, ra, b, err
}

// postHeader is post without X-Forwarded-For, returning the answer's header too.
func (a *api) postHeader(ctx context.Context, path string, body any) (int, []byte, http.Header, error) {
	st, _, b, h, err := a.postXFF(ctx, path, body, "")
	return st, b, h, err
}

func (a *api) postXFF(ctx context.Context, path string, body any, xff string) (int, bool, []byte, http.Header, error) {
	b, _ := json.Marshal(body)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, a.base+path, bytes.NewReader(b))
	if err != nil {
		return 0, false, nil, nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	if xff != "" {
		req.Header.Set("X-Forwarded-For", xff)
	}
	return a.doHeader(req)
}

func (a *api) get(ctx context.Context, path string) (int, bool, []byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, a.base+path, nil)
	if err != nil {
		return 0, false, nil, err
	}
	req.Header.Set("Accept", "application/json")
	return a.do(req)
}

func (a *api) do(req *http.Request) (int, bool, []byte, error) {
	st, ra, body, _, err := a.doHeader(req)
	return st, ra, body, err
}

func (a *api) doHeader(req *http.Request) (int, bool, []byte, http.Header, error) {
	resp, err := a.hc.Do(req)
	if err != nil {
		return 0, false, nil, nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<16))
	return resp.StatusCode, resp.Header.Get("Retry-After") != "", body, resp.Header, err
}

func (a *api) signup(ctx context.Context, username, email, password string) (int, bool, error) {
	st, ra, _, err := a.post(ctx, "/api/signup/", map[string]string{"username": username, "email": email, "password": password}, "")
	return st, ra, err
}

func (a *api) login(ctx context.Context, email, password, xff string) (int, bool, error) {
	st, ra, _, err := a.post(ctx, "/api/login/", map[string]string{"email": email, "password": password}, xff)
	return st, ra, err
}

// loginDevice logs in with a device cookie (the value of kairos_device; empty
// for none) and returns the cookie the answer sets, if any. The cookie is
// handled by hand: it is Secure, and the stack speaks plain HTTP.
func (a *api) loginDevice(ctx context.Context, email, password, xff, cookie string) (int, bool, string, error) {
	b, _ := json.Marshal(map[string]string{"email": email, "password": password})
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, a.base+"/api/login/", bytes.NewReader(b))
	if err != nil {
		return 0, false, "", err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Forwarded-For", xff)
	if cookie != "" {
		req.AddCookie(&http.Cookie{Name: "kairos_device", Value: cookie})
	}
	resp, err := a.hc.Do(req)
	if err != nil {
		return 0, false, "", err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<16))
	set := ""
	for _, c := range resp.Cookies() {
		if c.Name == "kairos_device" {
			set = c.Value
		}
	}
	return resp.StatusCode, resp.Header.Get("Retry-After") != "", set, nil
}

func (a *api) verify(ctx context.Context, token string) (int, bool, error) {
	st, ra, _, err := a.get(ctx, "/api/verify/"+token+"/")
	return st, ra, err
}

func is(codes ...int) func(int) bool {
	return func(s int) bool {
		for _, c := range codes {
			if s == c {
				return true
			}
		}
		return false
	}
}
