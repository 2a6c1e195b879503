package passwords

import "strings"

// Len is the number of distinct entries, for the test of the embedded list.
func (l *List) Len() int { return len(l.sorted) }

// Entries are the lines of the embedded file, as given.
func Entries() []string {
	var out []string
	for s := range strings.Lines(commonText) {
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, s)
		}
	}
	return out
}
