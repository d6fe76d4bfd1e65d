-- The outbox: completion notifications of finished jobs not yet delivered, written in the transaction
-- that finishes the job (so a node that dies after the commit loses none), leased for delivery.

CREATE TABLE outbox (
    account text COLLATE "C" NOT NULL,
    region text COLLATE "C" NOT NULL,
    job_id text COLLATE "C" NOT NULL,
    record bytea NOT NULL,
    PRIMARY KEY (account, region, job_id),
    FOREIGN KEY (account, region, job_id) REFERENCES jobs ON DELETE CASCADE
);
