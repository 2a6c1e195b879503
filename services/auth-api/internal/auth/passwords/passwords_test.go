package passwords_test

import (
	"strings"
	"testing"

	"github.com/kairos-platform/identity/services/auth-api/internal/auth/passwords"
)

func TestCommonPasswordList(t *testing.T) {
	l := passwords.Common()
	if l.Len() < 29000 {
		t.Fatalf("embedded list has %d entries, want about 30,000", l.Len())
	}
	for _, pw := range []string{"123456", "password", "Password", "QWERTY"} {
		if !l.Contains(pw) {
			t.Errorf("%q not on the list", pw)
		}
	}
	if l.Contains("correct horse battery staple 42") {
		t.Error("a long passphrase is on the list")
	}
}

// Every entry of the embedded list is found, in any letter case, and
// nothing between entries is.
func TestCommonFindsEveryEntry(t *testing.T) {
	l := passwords.Common()
	for _, pw := range passwords.Entries() {
		if !l.Contains(pw) || !l.Contains(strings.ToUpper(pw)) {
			t.Fatalf("%q is on the list but not found", pw)
		}
		if l.Contains(pw + "\x00") {
			t.Fatalf("%q plus a byte is found", pw)
		}
	}
}
