package sqlstore

// TokenColumns lists the tokens table's columns in the order the stores scan
// them. The hash is never read back.
const TokenColumns = `id, name, scope, created_at, last_used_at, revoked_at`
