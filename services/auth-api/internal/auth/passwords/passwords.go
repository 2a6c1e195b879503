// Package passwords embeds the list of common passwords that signup rejects:
// the zxcvbn 4.4.2 frequency list (MIT licence, see LICENSE beside it).
package passwords

import (
	_ "embed"
	"strings"
)

//go:embed common-passwords.txt
var commonText string

// List is a set of common passwords, compared case-insensitively.
type List struct {
	set map[string]struct{}
}

// Common parses the embedded list. Call it once at start and share the result.
func Common() *List {
	lines := strings.Split(commonText, "\n")
	l := &List{set: make(map[string]struct{}, len(lines))}
	for _, s := range lines {
		if s = strings.TrimSpace(s); s != "" {
			l.set[strings.ToLower(s)] = struct{}{}
		}
	}
	return l
}

// Contains reports whether pw is on the list, ignoring letter case (a
// capitalised "Password" is no stronger than "password").
func (l *List) Contains(pw string) bool {
	_, ok := l.set[strings.ToLower(pw)]
	return ok
}
