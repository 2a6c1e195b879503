package natsx

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/nats-io/nats.go"
)

// MinServerVersion is the oldest nats-server the services run against:
// 2.9 brought the consumer-create API (with a name and one filter subject)
// that nats.go's jetstream package uses. Tests run against 2.9.10 (Debian's
// package) and the current release.
const MinServerVersion = "2.9.0"

// CheckVersion returns an error naming the server version found and the
// minimum when the connected server is older than min ("2.9.0"). A
// connection that is not connected yet has no version to check: nil.
func CheckVersion(nc *nats.Conn, min string) error {
	found := nc.ConnectedServerVersion()
	if found == "" {
		return nil
	}
	if compareVersions(found, min) < 0 {
		return fmt.Errorf("nats-server %s is too old: need %s or later", found, min)
	}
	return nil
}

// compareVersions compares dotted numeric versions ("2.10.3", "v2.9.10",
// "2.11.0-beta.1": the pre-release suffix is ignored).
func compareVersions(a, b string) int {
	pa, pb := versionParts(a), versionParts(b)
	for i := range 3 {
		if pa[i] != pb[i] {
			if pa[i] < pb[i] {
				return -1
			}
			return 1
		}
	}
	return 0
}

func versionParts(v string) [3]int {
	v = strings.TrimPrefix(strings.TrimSpace(v), "v")
	if i := strings.IndexAny(v, "-+"); i >= 0 {
		v = v[:i]
	}
	var out [3]int
	for i, p := range strings.SplitN(v, ".", 3) {
		out[i], _ = strconv.Atoi(p)
	}
	return out
}
