-- A deleted module version keeps its name, with the digest it had: the
-- finished runs that still name the version must not be mixed with runs
-- of other bytes under the same name. ModuleInsert numbers new versions
-- past the retired ones, and refuses other bytes under a retired version
-- (the same bytes may come back).
CREATE TABLE module_versions_retired (
    name    text NOT NULL,
    version text NOT NULL,
    digest  text NOT NULL,
    PRIMARY KEY (name, version)
);
