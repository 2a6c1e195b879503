// Package testkit holds the small test helpers every module needs once: a
// log buffer that concurrent writers share and a bounded wait on a condition.
// Database and JetStream helpers live in pgtest and natstest.
package testkit
