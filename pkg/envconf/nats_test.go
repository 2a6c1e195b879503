package envconf_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kairos-platform/identity/pkg/envconf"
	"github.com/kairos-platform/identity/pkg/natstest"
	"github.com/kairos-platform/identity/pkg/natsx"
)

func TestNATSAuth(t *testing.T) {
	dir := t.TempDir()
	tf, err := natstest.WriteTLS(dir)
	if err != nil {
		t.Fatal(err)
	}
	file := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	password := file("password", "s3cret-pw\n")
	creds := file("user.creds", "-----BEGIN "+"NATS USER JWT-----\neyJ0\n------END "+"NATS USER JWT------\n")
	missing := filepath.Join(dir, "missing")
	for _, tc := range []struct {
		name    string
		env     map[string]string
		wantVar string // the variable the error names; "" for none
		want    string // String() of the result
		opts    int    // nats.go options it gives
	}{
		{"nothing set", nil, "", "none", 0},
		{"user and password file", map[string]string{"NATS_USER": "notifier", "NATS_PASSWORD_FILE": password}, "", "user notifier", 1},
		{"creds", map[string]string{"NATS_CREDS_FILE": creds}, "", "creds", 1},
		{"server TLS", map[string]string{"NATS_TLS_CA_FILE": tf.CA}, "", "none, TLS", 1},
		{"mutual TLS", map[string]string{"NATS_TLS_CA_FILE": tf.CA, "NATS_TLS_CERT_FILE": tf.ClientCert,
			"NATS_TLS_KEY_FILE": tf.ClientKey, "NATS_CREDS_FILE": creds}, "", "creds, mutual TLS", 3},
		{"user without password", map[string]string{"NATS_USER": "u"}, "NATS_PASSWORD_FILE", "", 0},
		{"password without user", map[string]string{"NATS_PASSWORD_FILE": password}, "NATS_PASSWORD_FILE", "", 0},
		{"password file missing", map[string]string{"NATS_USER": "u", "NATS_PASSWORD_FILE": missing}, "NATS_PASSWORD_FILE", "", 0},
		{"empty password file", map[string]string{"NATS_USER": "u", "NATS_PASSWORD_FILE": file("empty", "\n")}, "NATS_PASSWORD_FILE", "", 0},
		{"creds and user", map[string]string{"NATS_USER": "u", "NATS_PASSWORD_FILE": password, "NATS_CREDS_FILE": creds}, "NATS_USER", "", 0},
		{"creds file not creds", map[string]string{"NATS_CREDS_FILE": password}, "NATS_CREDS_FILE", "", 0},
		{"creds file missing", map[string]string{"NATS_CREDS_FILE": missing}, "NATS_CREDS_FILE", "", 0},
		{"CA not PEM", map[string]string{"NATS_TLS_CA_FILE": password}, "NATS_TLS_CA_FILE", "", 0},
		{"cert without key", map[string]string{"NATS_TLS_CERT_FILE": tf.ClientCert}, "NATS_TLS_KEY_FILE", "", 0},
		{"key without cert", map[string]string{"NATS_TLS_KEY_FILE": tf.ClientKey}, "NATS_TLS_CERT_FILE", "", 0},
		{"key of another cert", map[string]string{"NATS_TLS_CERT_FILE": tf.ClientCert, "NATS_TLS_KEY_FILE": tf.ServerKey}, "NATS_TLS_CERT_FILE", "", 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := envconf.New(func(k string) string { return tc.env[k] })
			a := e.NATSAuth()
			err := e.Err()
			if tc.wantVar == "" {
				if err != nil {
					t.Fatalf("error %v", err)
				}
				if a.String() != tc.want {
					t.Errorf("String() = %q, want %q", a.String(), tc.want)
				}
				if len(natsx.AuthOptions(a)) != tc.opts {
					t.Errorf("%d options for %q", len(natsx.AuthOptions(a)), tc.want)
				}
				return
			}
			if err == nil || !strings.HasPrefix(err.Error(), tc.wantVar) || strings.Contains(err.Error(), "\n") {
				t.Fatalf("error %v: want one line naming %s", err, tc.wantVar)
			}
			if strings.Contains(err.Error(), "s3cret-pw") || strings.Contains(a.String(), "s3cret-pw") {
				t.Errorf("password shown: %v / %s", err, a)
			}
		})
	}
}
