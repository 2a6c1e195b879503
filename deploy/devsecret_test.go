package deploy_test

import (
	"crypto/elliptic"
	"crypto/x509"
	"encoding/pem"
	"testing"

	corev1 "k8s.io/api/core/v1"
)

// TestDevSecretMakesItsOwnKeys: values-dev.yaml carries no key; the created
// Secret gets an ES256 signing key auth-api can parse (SEC1 P-256, as Helm's
// genPrivateKey writes it) and a device-cookie key.
func TestDevSecretMakesItsOwnKeys(t *testing.T) {
	r := mustRender(t, "values-dev.yaml")
	var sec *corev1.Secret
	for _, o := range r.all("Secret") {
		if s, ok := o.Typed.(*corev1.Secret); ok {
			sec = s
		}
	}
	if sec == nil {
		t.Fatal("values-dev.yaml renders no Secret")
	}
	block, _ := pem.Decode([]byte(sec.StringData["JWT_SIGNING_KEYS"]))
	if block == nil || block.Type != "EC PRIVATE KEY" {
		t.Fatalf("JWT_SIGNING_KEYS is not an EC private key PEM block")
	}
	key, err := x509.ParseECPrivateKey(block.Bytes)
	if err != nil || key.Curve != elliptic.P256() {
		t.Fatalf("JWT_SIGNING_KEYS: not a P-256 key (%v)", err)
	}
	if len(sec.StringData["DEVICE_COOKIE_KEYS"]) == 0 {
		t.Error("DEVICE_COOKIE_KEYS is empty")
	}
}
