-- reko's shared state on PostgreSQL: the same records as the embedded store's tables, keyed the same
-- way. Keys compare as bytes (COLLATE "C"), so pages and pagination tokens order as on redb. Records are
-- reko's own JSON (bytea, written and read only by reko); vectors are a face id and little-endian f32s.
-- Everything in a collection goes with it (ON DELETE CASCADE).

CREATE TABLE collections (
    account text COLLATE "C" NOT NULL,
    region text COLLATE "C" NOT NULL,
    collection_id text COLLATE "C" NOT NULL,
    record bytea NOT NULL,
    PRIMARY KEY (account, region, collection_id)
);

CREATE TABLE faces (
    account text COLLATE "C" NOT NULL,
    region text COLLATE "C" NOT NULL,
    collection_id text COLLATE "C" NOT NULL,
    face_id text COLLATE "C" NOT NULL,
    record bytea NOT NULL,
    PRIMARY KEY (account, region, collection_id, face_id),
    FOREIGN KEY (account, region, collection_id) REFERENCES collections ON DELETE CASCADE
);

CREATE TABLE vectors (
    account text COLLATE "C" NOT NULL,
    region text COLLATE "C" NOT NULL,
    collection_id text COLLATE "C" NOT NULL,
    key bigint NOT NULL,
    vector bytea NOT NULL,
    PRIMARY KEY (account, region, collection_id, key),
    FOREIGN KEY (account, region, collection_id) REFERENCES collections ON DELETE CASCADE
);

CREATE TABLE users (
    account text COLLATE "C" NOT NULL,
    region text COLLATE "C" NOT NULL,
    collection_id text COLLATE "C" NOT NULL,
    user_id text COLLATE "C" NOT NULL,
    record bytea NOT NULL,
    PRIMARY KEY (account, region, collection_id, user_id),
    FOREIGN KEY (account, region, collection_id) REFERENCES collections ON DELETE CASCADE
);

CREATE TABLE images (
    account text COLLATE "C" NOT NULL,
    region text COLLATE "C" NOT NULL,
    collection_id text COLLATE "C" NOT NULL,
    image_key text COLLATE "C" NOT NULL,
    face_ids bytea NOT NULL,
    PRIMARY KEY (account, region, collection_id, image_key),
    FOREIGN KEY (account, region, collection_id) REFERENCES collections ON DELETE CASCADE
);

CREATE TABLE requests (
    account text COLLATE "C" NOT NULL,
    region text COLLATE "C" NOT NULL,
    collection_id text COLLATE "C" NOT NULL,
    token text COLLATE "C" NOT NULL,
    record bytea NOT NULL,
    PRIMARY KEY (account, region, collection_id, token),
    FOREIGN KEY (account, region, collection_id) REFERENCES collections ON DELETE CASCADE
);

CREATE TABLE jobs (
    account text COLLATE "C" NOT NULL,
    region text COLLATE "C" NOT NULL,
    job_id text COLLATE "C" NOT NULL,
    finished boolean NOT NULL,
    record bytea NOT NULL,
    PRIMARY KEY (account, region, job_id)
);
CREATE INDEX jobs_unfinished ON jobs (account, region, job_id) WHERE NOT finished;

CREATE TABLE job_tokens (
    account text COLLATE "C" NOT NULL,
    region text COLLATE "C" NOT NULL,
    token text COLLATE "C" NOT NULL,
    record bytea NOT NULL,
    PRIMARY KEY (account, region, token)
);

CREATE TABLE job_results (
    account text COLLATE "C" NOT NULL,
    region text COLLATE "C" NOT NULL,
    job_id text COLLATE "C" NOT NULL,
    chunk bigint NOT NULL,
    data bytea NOT NULL,
    PRIMARY KEY (account, region, job_id, chunk),
    FOREIGN KEY (account, region, job_id) REFERENCES jobs ON DELETE CASCADE
);

CREATE TABLE health (
    id integer PRIMARY KEY,
    checked_at timestamptz NOT NULL
);
