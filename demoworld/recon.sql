-- The reconciliation sources of the demo world, in schema demo, as the files a collector reads:
-- bank statements (BAI2, camt.053), GL exports and the FX rates file, name and content, so
-- demo_sources() can write them out again where the demo folder is missing.
-- Tables first; keys below the "-- after load" line (writer.py splits on it).

CREATE SCHEMA IF NOT EXISTS demo;
DROP TABLE IF EXISTS demo.bank_files, demo.gl_exports, demo.fx_file CASCADE;

CREATE TABLE demo.bank_files (
    file_name text COLLATE "C" NOT NULL,
    format    text NOT NULL,  -- bai2 | camt053
    bank_day  date NOT NULL,
    accounts  text NOT NULL,  -- account numbers in the file, comma-separated
    entries   int NOT NULL,   -- detail records / Ntry elements
    content   text NOT NULL
);

CREATE TABLE demo.gl_exports (
    file_name   text COLLATE "C" NOT NULL,
    posted_date date NOT NULL,
    journals    int NOT NULL,
    lines       int NOT NULL,  -- journal lines (header excluded)
    content     text NOT NULL
);

CREATE TABLE demo.fx_file (
    file_name text COLLATE "C" NOT NULL,
    rows      int NOT NULL,  -- rate rows (header excluded)
    content   text NOT NULL
);

-- after load

ALTER TABLE demo.bank_files ADD PRIMARY KEY (file_name);
ALTER TABLE demo.gl_exports ADD PRIMARY KEY (file_name);
ALTER TABLE demo.fx_file ADD PRIMARY KEY (file_name);
