-- API bearer tokens. Only a SHA-256 digest of each secret is stored.
CREATE TABLE tokens (
    id           text        PRIMARY KEY,
    name         text        NOT NULL,
    scope        text        NOT NULL CHECK (scope IN ('admin', 'write', 'read')),
    hash         bytea       NOT NULL UNIQUE,
    created_at   timestamptz NOT NULL,
    last_used_at timestamptz,
    revoked_at   timestamptz
);
