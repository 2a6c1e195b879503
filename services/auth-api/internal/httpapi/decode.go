package httpapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"maps"
	"mime"
	"net/http"
	"reflect"
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
	// Only an object: null would decode into an empty request and be
	// answered as missing fields, unlike every other non-object body.
	if t := bytes.TrimLeft(raw, " \t\r\n"); len(t) == 0 || t[0] != '{' {
		return errMalformed
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	var typeErr *json.UnmarshalTypeError
	switch err := dec.Decode(dst); {
	case errors.As(err, &typeErr) && typeErr.Field != "":
		// encoding/json keeps only the first; the client is owed them all.
		if _, err := dec.Token(); err != io.EOF {
			return errMalformed
		}
		fields := typeErrors(raw, dst)
		if len(fields) == 0 {
			return errMalformed
		}
		return &auth.ValidationError{Fields: fields}
	case err != nil:
		return errMalformed
	}
	// Exactly one JSON value: trailing garbage is malformed.
	if _, err := dec.Token(); err != io.EOF {
		return errMalformed
	}
	return nil
}

// typeErrors decodes each field of the struct dst points to on its own from
// the object raw, and lists every field whose value has the wrong JSON
// type. Keys match fields as encoding/json matches them (case folded);
// raw has no duplicate keys by now.
func typeErrors(raw []byte, dst any) map[string][]string {
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(raw, &obj); err != nil {
		return nil
	}
	byKey := make(map[string]json.RawMessage, len(obj))
	for k, v := range obj {
		byKey[foldKey(k)] = v
	}
	fields := map[string][]string{}
	st := reflect.TypeOf(dst).Elem()
	for i := range st.NumField() {
		f := st.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		v, ok := byKey[foldKey(name)]
		if !f.IsExported() || name == "" || name == "-" || !ok {
			continue
		}
		var typeErr *json.UnmarshalTypeError
		if err := json.Unmarshal(v, reflect.New(f.Type).Interface()); errors.As(err, &typeErr) {
			fields[name] = []string{notValid(f.Type)}
		}
	}
	return fields
}

// notValid is DRF's wording for a value of the wrong type.
func notValid(t reflect.Type) string {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch t.Kind() {
	case reflect.Bool:
		return "Must be a valid boolean."
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "A valid integer is required."
	}
	return "Not a valid string."
}

// withTypeErrors reports a request's wrong-typed fields (typeErrs, from
// decode) together with the validation errors of the rest (err), so that
// every failing field is named at once. A wrong-typed field decodes as
// absent; its type error replaces the "required" message.
func withTypeErrors(typeErrs error, err error) error {
	var te, ve *auth.ValidationError
	if !errors.As(typeErrs, &te) {
		return err
	}
	if !errors.As(err, &ve) {
		return te
	}
	merged := make(map[string][]string, len(ve.Fields)+len(te.Fields))
	maps.Copy(merged, ve.Fields)
	maps.Copy(merged, te.Fields)
	return &auth.ValidationError{Fields: merged}
}

// decodeFields is decode for handlers that validate afterwards: an error
// about the body as a whole is returned as err, the wrong-typed fields as
// typeErrs (for withTypeErrors), dst holding the rest.
func decodeFields(w http.ResponseWriter, r *http.Request, dst any) (typeErrs, err error) {
	err = decode(w, r, dst)
	var ve *auth.ValidationError
	if errors.As(err, &ve) {
		return err, nil
	}
	return nil, err
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
