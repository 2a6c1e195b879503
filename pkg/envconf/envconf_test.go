package envconf_test

import (
	"strings"
	"testing"
	"time"

	"github.com/kairos-platform/identity/pkg/envconf"
)

func TestReader(t *testing.T) {
	vars := map[string]string{"S": "  x  ", "I": "7", "F": "2.5", "D": "3s", "L": " a, ,b ,"}
	e := envconf.New(func(k string) string { return vars[k] })
	if e.Str("S", "d") != "x" || e.Str("UNSET", "d") != "d" || e.Int("I", 1, 0, 10) != 7 || e.Int("UNSET", 1, 0, 10) != 1 ||
		e.Float("F", 1, 0) != 2.5 || e.Duration("D", time.Second, 0) != 3*time.Second || strings.Join(e.List("L"), "|") != "a|b" {
		t.Fatal("good values misread")
	}
	if e.Err() != nil {
		t.Fatalf("Err = %v after good values", e.Err())
	}
}

func TestFirstFailureNamesTheVariable(t *testing.T) {
	tests := []struct {
		name string
		read func(*envconf.Env)
		want string
	}{
		{"int out of range", func(e *envconf.Env) { e.Int("V", 1, 0, 5) }, `V: "bad" is not a whole number from 0 to 5`},
		{"float", func(e *envconf.Env) { e.Float("V", 1, 0) }, `V: "bad" is not a number of at least 0`},
		{"duration", func(e *envconf.Env) { e.Duration("V", 0, time.Second) }, `V: "bad" is not a duration of at least 1s (e.g. 30s, 2m)`},
		{"custom, then a second failure", func(e *envconf.Env) { e.Fail("V", "%q is odd", "bad"); e.Int("V", 1, 0, 5) }, `V: "bad" is odd`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := envconf.New(func(string) string { return "bad" })
			tt.read(e)
			if e.Err() == nil || e.Err().Error() != tt.want {
				t.Fatalf("Err = %v, want %s", e.Err(), tt.want)
			}
		})
	}
}
