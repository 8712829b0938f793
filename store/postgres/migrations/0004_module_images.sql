-- Init images of modules (see host/snapshot): state the host derives from a
-- module's bytes, kept so that no process derives it again. Any of them may
-- be deleted: the host makes it again.
CREATE TABLE module_images (
    digest     text        NOT NULL,
    format     text        NOT NULL,
    image      bytea       NOT NULL,
    created_at timestamptz NOT NULL,
    PRIMARY KEY (digest, format)
);
