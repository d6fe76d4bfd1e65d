-- Custom Labels projects (the service's record of each, with its datasets and model versions) and their
-- items: dataset entries, image features and trained models, removed with the project.

CREATE TABLE projects (
    account text COLLATE "C" NOT NULL,
    region text COLLATE "C" NOT NULL,
    name text COLLATE "C" NOT NULL,
    record bytea NOT NULL,
    PRIMARY KEY (account, region, name)
);

CREATE TABLE project_items (
    account text COLLATE "C" NOT NULL,
    region text COLLATE "C" NOT NULL,
    project text COLLATE "C" NOT NULL,
    key text COLLATE "C" NOT NULL,
    value bytea NOT NULL,
    PRIMARY KEY (account, region, project, key),
    FOREIGN KEY (account, region, project) REFERENCES projects ON DELETE CASCADE
);
