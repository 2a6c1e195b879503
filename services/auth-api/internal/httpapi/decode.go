package httpapi

import (
	"encoding/json"
	"errors"
	"io"
	"mime"
	"net/http"

	"github.com/kairos-platform/identity/services/auth-api/internal/auth"
)

// MaxBodyBytes caps every request body.
const MaxBodyBytes = 64 << 10

// decode reads a JSON object from r's body into dst. Unknown fields are
// ignored, as the seed did. A field of the wrong JSON type is reported
// against that field, like DRF's "Not a valid string.".
func decode(w http.ResponseWriter, r *http.Request, dst any) error {
	ct := r.Header.Get("Content-Type")
	if mt, _, err := mime.ParseMediaType(ct); err != nil || mt != "application/json" {
		return errUnsupportedMedia
	}
	body := http.MaxBytesReader(w, r.Body, MaxBodyBytes)
	dec := json.NewDecoder(body)
	err := dec.Decode(dst)
	if err == nil {
		// Exactly one JSON value: trailing garbage is malformed.
		switch _, terr := dec.Token(); {
		case terr == nil:
			err = errMalformed
		case terr != io.EOF:
			err = terr
		}
	}
	var tooLarge *http.MaxBytesError
	var typeErr *json.UnmarshalTypeError
	switch {
	case err == nil:
		return nil
	case errors.As(err, &tooLarge):
		return errTooLarge
	case errors.As(err, &typeErr) && typeErr.Field != "":
		// Read the rest so a too-large body still answers 413.
		if _, err := io.Copy(io.Discard, body); errors.As(err, &tooLarge) {
			return errTooLarge
		}
		return &auth.ValidationError{Fields: map[string][]string{typeErr.Field: {"Not a valid string."}}}
	}
	return errMalformed
}
