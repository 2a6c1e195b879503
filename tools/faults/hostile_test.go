//go:build faults

package faults

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/kairos-platform/identity/tools/internal/stack"
)

// TestHostileInput sends hostile requests to the running auth-api. Every
// rejected request must get a JSON 4xx and leave nothing behind (no user, no
// token, no outbox row); none may get a 5xx. The few that are legitimate
// input (a username with SQL metacharacters) must be stored verbatim and
// must not smuggle anything into the mail's headers.
func TestHostileInput(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	st, err := stack.Start(ctx, stack.Options{Log: testWriter{t}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(st.Close)
	conn, err := pgx.Connect(ctx, st.PG.DatabaseURL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())

	const pw = "Hostile-Input-Passw0rd-3"
	signup := func(username, email, password string) string {
		b, _ := json.Marshal(map[string]string{"username": username, "email": email, "password": password})
		return string(b)
	}
	deep := strings.Repeat("[", 30000) + strings.Repeat("]", 30000)
	deepObj := `{"username":` + strings.Repeat(`{"a":`, 10000) + "1" + strings.Repeat("}", 10000) + `,"email":"deep@hostile.test","password":"` + pw + `"}`
	long := func(n int) string { return strings.Repeat("a", n) }

	type tc struct {
		name        string
		method      string
		path        string
		contentType string
		body        string
		// accept lists the statuses allowed; rejected ones must be 4xx.
		accept []int
	}
	json415 := "application/json"
	cases := []tc{
		{"oversized body", "POST", "/api/signup/", json415, `{"username":"big","email":"big@hostile.test","password":"` + long(70<<10) + `"}`, []int{413}},
		{"deep JSON array", "POST", "/api/signup/", json415, deep, []int{400, 413}},
		{"deep JSON object in a field", "POST", "/api/signup/", json415, deepObj, []int{400}},
		{"invalid UTF-8 in username", "POST", "/api/signup/", json415, "{\"username\":\"bad\xff\xfe\",\"email\":\"utf8a@hostile.test\",\"password\":\"" + pw + "\"}", []int{400}},
		{"invalid UTF-8 in email", "POST", "/api/signup/", json415, "{\"username\":\"u\",\"email\":\"utf8\xc3\x28b@hostile.test\",\"password\":\"" + pw + "\"}", []int{400}},
		{"invalid UTF-8 in password", "POST", "/api/signup/", json415, "{\"username\":\"u\",\"email\":\"utf8c@hostile.test\",\"password\":\"Passw0rd-\xed\xa0\x80-long\"}", []int{400}},
		{"NUL in username", "POST", "/api/signup/", json415, signup("nul\x00user", "nul1@hostile.test", pw), []int{400}},
		{"NUL in email", "POST", "/api/signup/", json415, signup("u", "nul2\x00@hostile.test", pw), []int{400}},
		{"NUL in password", "POST", "/api/signup/", json415, signup("u", "nul3@hostile.test", "Passw0rd\x00-long-enough"), []int{400}},
		{"SQL metacharacters in email", "POST", "/api/signup/", json415, signup("u", "x'); DROP TABLE users;--@hostile.test", pw), []int{400}},
		{"SQL metacharacters in login email", "POST", "/api/login/", json415, `{"email":"' OR '1'='1","password":"' OR '1'='1"}`, []int{400, 401}},
		{"email of 255+ characters", "POST", "/api/signup/", json415, signup("u", long(250)+"@hostile.test", pw), []int{400}},
		{"email of 10,000 characters", "POST", "/api/login/", json415, `{"email":"` + long(10000) + `@x.test","password":"` + pw + `"}`, []int{400, 401}},
		{"password of 257 characters", "POST", "/api/signup/", json415, signup("u", "longpw@hostile.test", long(257)), []int{400}},
		{"password of 60,000 characters at login", "POST", "/api/login/", json415, `{"email":"longpw2@hostile.test","password":"` + long(60000) + `"}`, []int{400, 401}},
		{"username of 101 characters", "POST", "/api/signup/", json415, signup(long(101), "longuser@hostile.test", pw), []int{400}},
		{"CR/LF header injection in email", "POST", "/api/signup/", json415, signup("u", "inj1@hostile.test\r\nBcc: victim@elsewhere.test", pw), []int{400}},
		{"LF header injection in email", "POST", "/api/signup/", json415, signup("u", "inj2@hostile.test\nX-Injected: 1", pw), []int{400}},
		{"CR/LF header injection in resend email", "POST", "/api/verify/resend/", json415, `{"email":"inj3@hostile.test\r\nBcc: victim@elsewhere.test"}`, []int{200, 400}},
		{"duplicate JSON keys", "POST", "/api/signup/", json415, `{"username":"dup","email":"dup1@hostile.test","email":"dup2@hostile.test","password":"` + pw + `"}`, []int{400}},
		{"wrong type: email a number", "POST", "/api/signup/", json415, `{"username":"u","email":123,"password":"` + pw + `"}`, []int{400}},
		{"wrong type: password an array", "POST", "/api/signup/", json415, `{"username":"u","email":"arr@hostile.test","password":["` + pw + `"]}`, []int{400}},
		{"wrong type: body an array", "POST", "/api/signup/", json415, `[]`, []int{400}},
		{"wrong type: body null", "POST", "/api/login/", json415, `null`, []int{400}},
		{"wrong type: body a string", "POST", "/api/login/", json415, `"hello"`, []int{400}},
		{"trailing data after the object", "POST", "/api/signup/", json415, signup("u", "trail@hostile.test", pw) + `{"x":1}`, []int{400}},
		{"empty body", "POST", "/api/signup/", json415, ``, []int{400}},
		{"truncated JSON", "POST", "/api/signup/", json415, `{"username":"u","email":"tr@hostile.te`, []int{400}},
		{"not JSON content type", "POST", "/api/signup/", "text/plain", signup("u", "ct@hostile.test", pw), []int{415}},
		{"form content type", "POST", "/api/login/", "application/x-www-form-urlencoded", "email=a%40b.c&password=x", []int{415}},
		{"no content type", "POST", "/api/signup/", "", signup("u", "noct@hostile.test", pw), []int{415}},
		{"token with path traversal", "GET", "/api/verify/..%2F..%2Fetc%2Fpasswd/", "", "", []int{400, 404}},
		{"token of 10,000 characters", "GET", "/api/verify/" + long(10000) + "/", "", "", []int{400, 404, 414, 431}},
		{"token with NUL", "GET", "/api/verify/abc%00def/", "", "", []int{400, 404}},
		{"token with SQL", "GET", "/api/verify/'%20OR%201=1--/", "", "", []int{400, 404}},
		{"wrong method", "DELETE", "/api/signup/", "", "", []int{405}},
		{"unknown path", "GET", "/api/../../admin", "", "", []int{404}},
	}

	hc := &http.Client{Timeout: 30 * time.Second}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			before := counts(t, conn)
			req, err := http.NewRequest(c.method, st.AuthURL()+c.path, strings.NewReader(c.body))
			if err != nil {
				t.Fatal(err)
			}
			if c.contentType != "" {
				req.Header.Set("Content-Type", c.contentType)
			}
			resp, err := hc.Do(req)
			if err != nil {
				t.Fatalf("request failed: %v", err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode >= 500 {
				t.Fatalf("answered %d: %s", resp.StatusCode, trim(body))
			}
			ok := false
			for _, a := range c.accept {
				ok = ok || a == resp.StatusCode
			}
			if !ok {
				t.Errorf("answered %d, want one of %v: %s", resp.StatusCode, c.accept, trim(body))
			}
			if mt, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type")); mt != "application/json" || !json.Valid(body) {
				t.Errorf("answer is not JSON (Content-Type %q): %s", resp.Header.Get("Content-Type"), trim(body))
			}
			if resp.StatusCode >= 400 {
				if after := counts(t, conn); after != before {
					t.Errorf("a rejected request stored something: users/tokens/outbox %v → %v", before, after)
				}
			}
		})
	}

	// Legitimate but hostile-looking input: stored verbatim, and nothing
	// reaches the mail's headers but the one recipient.
	t.Run("SQL and CR/LF in a username are stored verbatim, never in a header", func(t *testing.T) {
		users := []string{"Robert'); DROP TABLE users;--", "Eve\r\nBcc: victim@elsewhere.test", "Mallory\nX-Injected: yes"}
		sent := 0
		for i, u := range users {
			email := fmt.Sprintf("verbatim%d@hostile.test", i)
			resp, err := hc.Post(st.AuthURL()+"/api/signup/", "application/json", strings.NewReader(signup(u, email, pw)))
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			switch {
			case resp.StatusCode == 200:
				sent++
				var got string
				if err := conn.QueryRow(ctx, `SELECT username FROM users WHERE lower(email) = $1`, email).Scan(&got); err != nil {
					t.Errorf("%q: accepted but not stored: %v", u, err)
				} else if got != strings.TrimSpace(u) && got != u {
					t.Errorf("%q stored as %q", u, got)
				}
			case resp.StatusCode >= 400 && resp.StatusCode < 500:
				// Rejecting control characters in a username is fine too.
			default:
				t.Errorf("%q: answered %d: %s", u, resp.StatusCode, trim(body))
			}
		}
		var n int
		if err := conn.QueryRow(ctx, `SELECT count(*) FROM users`).Scan(&n); err != nil {
			t.Fatalf("users table after SQL metacharacters: %v", err)
		}
		wctx, wcancel := context.WithTimeout(ctx, time.Minute)
		defer wcancel()
		msgs, err := st.SMTP.WaitFor(wctx, sent)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range msgs {
			if len(m.To) != 1 || !strings.HasSuffix(m.To[0], "@hostile.test") {
				t.Errorf("mail recipients %v", m.To)
			}
			head, _, _ := bytes.Cut(m.Raw, []byte("\r\n\r\n"))
			for _, line := range strings.Split(string(head), "\r\n") {
				l := strings.ToLower(line)
				// The text may survive inside a quoted display name; what
				// must never happen is a header line of its own.
				if strings.HasPrefix(l, "bcc:") || strings.HasPrefix(l, "x-injected:") || strings.HasPrefix(l, "cc:") {
					t.Errorf("injected header line in mail: %q", line)
				}
			}
		}
	})
}

func counts(t *testing.T, conn *pgx.Conn) [3]int {
	t.Helper()
	var c [3]int
	err := conn.QueryRow(context.Background(),
		`SELECT (SELECT count(*) FROM users), (SELECT count(*) FROM verification_tokens), (SELECT count(*) FROM outbox)`).Scan(&c[0], &c[1], &c[2])
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func trim(b []byte) string {
	if len(b) > 200 {
		return string(b[:200]) + "…"
	}
	return string(b)
}
