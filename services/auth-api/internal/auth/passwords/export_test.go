package passwords

// Len is the number of distinct entries, for the test of the embedded list.
func (l *List) Len() int { return len(l.set) }
