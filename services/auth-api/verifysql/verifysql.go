// Package verifysql holds the statements of auth-api's verify transaction:
// use the token, verify its account, revoke the account's other tokens.
//
// Every other statement lives in internal/postgres. These three sit outside
// internal/ because the load tool (module tools) measures the database's
// ceiling by replaying exactly this transaction with pgbench, and Go lets
// no other module import an internal package; a copy there would go on
// measuring the old statements after a change here.
package verifysql

// ConsumeToken uses the token with hash $1 at $2 if it is unused, unrevoked
// and unexpired, and returns its account's uid. The condition makes
// concurrent clicks safe: exactly one gets the row.
const ConsumeToken = `UPDATE verification_tokens SET used_at = $2
	WHERE token_hash = $1 AND used_at IS NULL AND revoked_at IS NULL AND expires_at > $2
	RETURNING uid::text`

// VerifyAccount marks account $1 verified at $2, keeping an earlier time.
const VerifyAccount = `UPDATE users SET verified_at = coalesce(verified_at, $2), updated_at = $2 WHERE uid = $1`

// RevokeOtherTokens revokes at $2 the unused tokens of account $1: once it
// is verified, links sent earlier are of no more use.
const RevokeOtherTokens = `UPDATE verification_tokens SET revoked_at = $2
	WHERE uid = $1 AND used_at IS NULL AND revoked_at IS NULL`
