package auth_test

import (
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/kairos-platform/identity/services/auth-api/internal/auth"
	"github.com/kairos-platform/identity/services/auth-api/internal/auth/passwords"
)

func ptr(s string) *string { return &s }

func TestValidateSignup(t *testing.T) {
	p := auth.Policy{MinPasswordLength: 8, Common: passwords.Common()}
	good := "Tr0ub4dor&3x"
	tests := []struct {
		name string
		in   auth.SignupInput
		want map[string][]string // nil: valid
		out  auth.Signup
	}{
		{"valid, trimmed", auth.SignupInput{ptr("  John  "), ptr(" John@Example.com "), ptr(good)}, nil,
			auth.Signup{Username: "John", Email: "John@Example.com", Password: good}},
		{"all missing", auth.SignupInput{}, map[string][]string{
			"username": {"This field is required."}, "email": {"This field is required."}, "password": {"This field is required."}}, auth.Signup{}},
		{"blank username", auth.SignupInput{ptr("   "), ptr("a@b.co"), ptr(good)}, map[string][]string{"username": {"This field may not be blank."}}, auth.Signup{}},
		{"username 100 chars is fine", auth.SignupInput{ptr(strings.Repeat("é", 100)), ptr("a@b.co"), ptr(good)}, nil,
			auth.Signup{Username: strings.Repeat("é", 100), Email: "a@b.co", Password: good}},
		{"username 101 chars", auth.SignupInput{ptr(strings.Repeat("x", 101)), ptr("a@b.co"), ptr(good)},
			map[string][]string{"username": {"Ensure this field has no more than 100 characters."}}, auth.Signup{}},
		{"invalid email", auth.SignupInput{ptr("j"), ptr("not-an-email"), ptr(good)}, map[string][]string{"email": {"Enter a valid email address."}}, auth.Signup{}},
		{"email with display name", auth.SignupInput{ptr("j"), ptr("John <j@example.com>"), ptr(good)}, map[string][]string{"email": {"Enter a valid email address."}}, auth.Signup{}},
		{"email too long", auth.SignupInput{ptr("j"), ptr(strings.Repeat("a", 64) + "@" + strings.Repeat("b", 186) + ".com"), ptr(good)},
			map[string][]string{"email": {"Ensure this field has no more than 254 characters."}}, auth.Signup{}},
		{"password too short", auth.SignupInput{ptr("j"), ptr("a@b.co"), ptr("Xy7!q")}, map[string][]string{"password": {"Ensure this field has at least 8 characters."}}, auth.Signup{}},
		{"password too long", auth.SignupInput{ptr("j"), ptr("a@b.co"), ptr(strings.Repeat("x", 257))}, map[string][]string{"password": {"Ensure this field has no more than 256 characters."}}, auth.Signup{}},
		{"common password", auth.SignupInput{ptr("j"), ptr("a@b.co"), ptr("Password1")}, map[string][]string{"password": {"This password is too common."}}, auth.Signup{}},
		{"password equals email", auth.SignupInput{ptr("j"), ptr("long.address@example.com"), ptr("Long.Address@example.com")},
			map[string][]string{"password": {"The password is too similar to the email."}}, auth.Signup{}},
		{"password equals username", auth.SignupInput{ptr("averylongusername"), ptr("a@b.co"), ptr("averylongusername")},
			map[string][]string{"password": {"The password is too similar to the username."}}, auth.Signup{}},
		{"NUL in username", auth.SignupInput{ptr("nul\x00user"), ptr("a@b.co"), ptr(good)}, map[string][]string{"username": {"This field may not contain control characters."}}, auth.Signup{}},
		{"tab in username", auth.SignupInput{ptr("a\tb"), ptr("a@b.co"), ptr(good)}, map[string][]string{"username": {"This field may not contain control characters."}}, auth.Signup{}},
		{"CR/LF in username", auth.SignupInput{ptr("Eve\r\nBcc: x@y.z"), ptr("a@b.co"), ptr(good)}, map[string][]string{"username": {"This field may not contain control characters."}}, auth.Signup{}},
		{"replacement character in password (a lone surrogate escape)", auth.SignupInput{ptr("ann"), ptr("a@b.co"), ptr("pass\uFFFDword-long")}, map[string][]string{"password": {"This field may not contain the character U+FFFD."}}, auth.Signup{}},
		{"C1 control in username", auth.SignupInput{ptr("a\u0085b"), ptr("a@b.co"), ptr(good)}, map[string][]string{"username": {"This field may not contain control characters."}}, auth.Signup{}},
		{"line separator in username", auth.SignupInput{ptr("a\u2028b"), ptr("a@b.co"), ptr(good)}, map[string][]string{"username": {"This field may not contain control characters."}}, auth.Signup{}},
		{"paragraph separator in username", auth.SignupInput{ptr("a\u2029b"), ptr("a@b.co"), ptr(good)}, map[string][]string{"username": {"This field may not contain control characters."}}, auth.Signup{}},
		{"NUL in email", auth.SignupInput{ptr("j"), ptr("a\x00@b.co"), ptr(good)}, map[string][]string{"email": {"This field may not contain control characters."}}, auth.Signup{}},
		{"CR/LF in email", auth.SignupInput{ptr("j"), ptr("a@b.co\r\nBcc: x@y.z"), ptr(good)}, map[string][]string{"email": {"This field may not contain control characters."}}, auth.Signup{}},
		{"NUL in password", auth.SignupInput{ptr("j"), ptr("a@b.co"), ptr("Passw0rd\x00-long-enough")}, map[string][]string{"password": {"This field may not contain control characters."}}, auth.Signup{}},
		{"ESC in password", auth.SignupInput{ptr("j"), ptr("a@b.co"), ptr("Passw0rd\x1b-long-enough")}, map[string][]string{"password": {"This field may not contain control characters."}}, auth.Signup{}},
		{"non-ASCII password is fine", auth.SignupInput{ptr("j"), ptr("a@b.co"), ptr("pässwörd-ünïcode ✓")}, nil,
			auth.Signup{Username: "j", Email: "a@b.co", Password: "pässwörd-ünïcode ✓"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, err := p.ValidateSignup(tt.in)
			if tt.want == nil {
				if err != nil || out != tt.out {
					t.Fatalf("ValidateSignup = %+v, %v; want %+v, nil", out, err, tt.out)
				}
				return
			}
			var ve *auth.ValidationError
			if !errors.As(err, &ve) || !reflect.DeepEqual(ve.Fields, tt.want) {
				t.Fatalf("ValidateSignup error = %v (%+v), want fields %v", err, ve, tt.want)
			}
		})
	}
}

func TestValidateLoginAndEmail(t *testing.T) {
	p := auth.Policy{MinPasswordLength: 8, Common: passwords.Common()}
	// Login applies no password rules beyond presence and the maximum: old
	// or short passwords must reach the credential check (and fail there).
	if _, err := p.ValidateLogin(auth.LoginInput{Email: ptr("a@b.co"), Password: ptr("123456")}); err != nil {
		t.Fatalf("login with a common password is a validation error: %v", err)
	}
	var ve *auth.ValidationError
	if _, err := p.ValidateLogin(auth.LoginInput{Email: ptr("nope")}); !errors.As(err, &ve) ||
		!reflect.DeepEqual(ve.Fields, map[string][]string{"email": {"Enter a valid email address."}, "password": {"This field is required."}}) {
		t.Fatalf("ValidateLogin = %v", err)
	}
	// NUL is refused at login; other controls may be in an old password.
	if _, err := p.ValidateLogin(auth.LoginInput{Email: ptr("a@b.co"), Password: ptr("pass\x00word")}); !errors.As(err, &ve) ||
		!reflect.DeepEqual(ve.Fields, map[string][]string{"password": {"Null characters are not allowed."}}) {
		t.Fatalf("ValidateLogin with NUL = %v", err)
	}
	if _, err := p.ValidateLogin(auth.LoginInput{Email: ptr("a@b.co"), Password: ptr("old\tpassword")}); err != nil {
		t.Fatalf("login with a tab in the password is a validation error: %v", err)
	}
	if _, err := p.ValidateEmail(ptr("a@b.co\r\nBcc: x@y.z")); !errors.As(err, &ve) ||
		!reflect.DeepEqual(ve.Fields, map[string][]string{"email": {"This field may not contain control characters."}}) {
		t.Fatalf("ValidateEmail with CR/LF = %v", err)
	}
	if got, err := p.ValidateEmail(ptr(" A@B.co ")); err != nil || got != "A@B.co" {
		t.Fatalf("ValidateEmail = %q, %v", got, err)
	}
	if _, err := p.ValidateEmail(nil); !errors.As(err, &ve) {
		t.Fatalf("ValidateEmail(nil) = %v, want a ValidationError", err)
	}
}

func TestLockDurationBacksOffFromOneMinuteToOneHour(t *testing.T) {
	want := []string{"1m0s", "2m0s", "4m0s", "8m0s", "16m0s", "32m0s", "1h0m0s", "1h0m0s", "1h0m0s"}
	for i, w := range want {
		if got := auth.LockDuration(i).String(); got != w {
			t.Errorf("LockDuration(%d) = %s, want %s", i, got, w)
		}
	}
	if got := auth.LockDuration(1000); got.String() != "1h0m0s" {
		t.Errorf("LockDuration(1000) = %s", got)
	}
}
