package httpapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"mime"
	"net/http"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/kairos-platform/identity/services/auth-api/internal/auth"
)

// MaxBodyBytes caps every request body.
const MaxBodyBytes = 64 << 10

// Bodies rejected as a whole, with the reason for the client.
var (
	// encoding/json would turn invalid bytes into U+FFFD, making different
	// passwords the same one.
	errNotUTF8 = badRequest("Request body must be valid UTF-8 JSON.")
	// encoding/json would keep the last of the values (matching names
	// case-insensitively), which other parsers in the path may not.
	errDuplicateKey = badRequest("Request body has a duplicate key; send each field once.")
)

// decode reads a JSON object from r's body into dst. Unknown fields are
// ignored, as the seed did. A field of the wrong JSON type is reported
// against that field, like DRF's "Not a valid string.". A body that is not
// valid UTF-8, or an object with a key twice, is rejected as a whole.
func decode(w http.ResponseWriter, r *http.Request, dst any) error {
	ct := r.Header.Get("Content-Type")
	if mt, _, err := mime.ParseMediaType(ct); err != nil || mt != "application/json" {
		return errUnsupportedMedia
	}
	raw, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxBodyBytes))
	var tooLarge *http.MaxBytesError
	switch {
	case errors.As(err, &tooLarge):
		return errTooLarge
	case err != nil:
		return errMalformed
	case !utf8.Valid(raw):
		return errNotUTF8
	case hasDuplicateKey(raw):
		return errDuplicateKey
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	var typeErr *json.UnmarshalTypeError
	switch err := dec.Decode(dst); {
	case errors.As(err, &typeErr) && typeErr.Field != "":
		return &auth.ValidationError{Fields: map[string][]string{typeErr.Field: {"Not a valid string."}}}
	case err != nil:
		return errMalformed
	}
	// Exactly one JSON value: trailing garbage is malformed.
	if _, err := dec.Token(); err != io.EOF {
		return errMalformed
	}
	return nil
}

// hasDuplicateKey reports whether raw is an object with a key twice at the
// top level, comparing keys as encoding/json matches them to fields (case
// folded). Anything that is not a well-formed object is left to the decoder.
func hasDuplicateKey(raw []byte) bool {
	dec := json.NewDecoder(bytes.NewReader(raw))
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return false
	}
	seen := map[string]bool{}
	for dec.More() {
		t, err := dec.Token()
		if err != nil {
			return false
		}
		k, ok := t.(string)
		if !ok {
			return false
		}
		k = foldKey(k)
		if seen[k] {
			return true
		}
		seen[k] = true
		var v json.RawMessage // skipped; the decoder's depth limit applies
		if err := dec.Decode(&v); err != nil {
			return false
		}
	}
	return false
}

// foldKey maps every rune to the smallest of its simple case folds, so that
// keys encoding/json treats as one name ("email", "EMAIL", "\u212a"/"k")
// compare equal.
func foldKey(s string) string {
	return strings.Map(func(r rune) rune {
		lo := r
		for f := unicode.SimpleFold(r); f != r; f = unicode.SimpleFold(f) {
			if f < lo {
				lo = f
			}
		}
		return lo
	}, s)
}
