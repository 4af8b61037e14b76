-- The ledger mirrored by `xinbao mirror`: each table named as its records are. Money is
-- integer fen (bigint), ratios basis points, dates `date`, ids and hashes `text`. Record
-- tables hold each record as the last block that wrote it left it; blocks, transactions,
-- repayments, recoveries, decisions, governance changes and fund movements are appended,
-- one SQL transaction per ledger block, with the mirror's position in mirror_position.

CREATE TABLE mirror_position (
    only_row boolean PRIMARY KEY DEFAULT true CHECK (only_row),
    chain_id text NOT NULL,
    genesis_hash text NOT NULL,
    height bigint NOT NULL,
    block_id text NOT NULL,
    -- The block's position in the node's event feed (HEIGHT:INDEX of its block event).
    position text NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE blocks (
    height bigint PRIMARY KEY,
    block_id text NOT NULL UNIQUE,
    time_ms bigint NOT NULL,
    date date NOT NULL,
    protocol_version integer NOT NULL,
    txs integer NOT NULL,
    rejected integer NOT NULL,
    proposer text NOT NULL
);

CREATE TABLE transactions (
    height bigint NOT NULL REFERENCES blocks,
    index integer NOT NULL,
    tx_id text NOT NULL UNIQUE,
    type text NOT NULL,
    date date NOT NULL,
    outcome text NOT NULL CHECK (outcome IN ('Accepted', 'Rejected')),
    code text,
    PRIMARY KEY (height, index)
);
CREATE INDEX transactions_type ON transactions (type, outcome);

-- What each accepted transaction decided (the event feed's `decisions`).
CREATE TABLE decisions (
    height bigint NOT NULL,
    index integer NOT NULL,
    seq integer NOT NULL,
    kind text NOT NULL,
    claim text,
    programme text,
    fund text,
    figures jsonb NOT NULL,
    PRIMARY KEY (height, index, seq),
    FOREIGN KEY (height, index) REFERENCES transactions
);

CREATE TABLE organisations (
    id text PRIMARY KEY,
    kind text NOT NULL
);

CREATE TABLE funds (
    id text PRIMARY KEY,
    government text NOT NULL,
    annual_cap_fen bigint NOT NULL,
    balance_fen bigint NOT NULL,
    subsidies_paid_fen bigint NOT NULL,
    compensation_paid_fen bigint NOT NULL
);

-- What each fund paid in each calendar year (R4.3), against its cap.
CREATE TABLE fund_years (
    fund text NOT NULL REFERENCES funds,
    year integer NOT NULL,
    paid_fen bigint NOT NULL,
    PRIMARY KEY (fund, year)
);

-- Each block's change to each fund it wrote: top-ups, subsidies, compensation and
-- recoveries returned, as the change of the fund's figures over the block.
CREATE TABLE fund_movements (
    height bigint NOT NULL REFERENCES blocks,
    fund text NOT NULL REFERENCES funds,
    date date NOT NULL,
    balance_before_fen bigint NOT NULL,
    balance_after_fen bigint NOT NULL,
    subsidies_paid_fen bigint NOT NULL,
    compensation_paid_fen bigint NOT NULL,
    PRIMARY KEY (height, fund)
);

CREATE TABLE filings (
    filing_hash text PRIMARY KEY,
    insurer text NOT NULL,
    product text NOT NULL,
    rates_bps jsonb NOT NULL,
    valid_from date NOT NULL,
    valid_to date NOT NULL,
    filing_ref text NOT NULL
);

CREATE TABLE programmes (
    id text PRIMARY KEY,
    name text NOT NULL,
    product text NOT NULL,
    government text NOT NULL,
    fund text NOT NULL,
    insurer text NOT NULL,
    reinsurer text,
    period_start date NOT NULL,
    period_end date NOT NULL,
    bank_bps integer NOT NULL,
    insurer_bps integer NOT NULL,
    fund_bps integer NOT NULL,
    reinsurance_quota_bps integer NOT NULL,
    status text NOT NULL,
    premium_written_fen bigint NOT NULL,
    claims_gross_fen bigint NOT NULL,
    loss_ratio_bps bigint NOT NULL,
    warnings jsonb NOT NULL,
    -- The agreement as created (CreateProgramme's JSON form).
    terms jsonb NOT NULL
);

CREATE TABLE programme_banks (
    programme text NOT NULL REFERENCES programmes,
    bank text NOT NULL,
    PRIMARY KEY (programme, bank)
);

-- Each programme's figures at each month end, recorded by the first block after it on
-- the state before that block (as the node's and `audit report`'s month ends).
CREATE TABLE programme_months (
    programme text NOT NULL REFERENCES programmes,
    month_end date NOT NULL,
    status text NOT NULL,
    premium_written_fen bigint NOT NULL,
    claims_gross_fen bigint NOT NULL,
    loss_ratio_bps bigint NOT NULL,
    outstanding_principal_fen bigint NOT NULL,
    overdue_principal_fen bigint NOT NULL,
    overdue_ratio_bps bigint NOT NULL,
    PRIMARY KEY (programme, month_end)
);

CREATE TABLE policies (
    id text PRIMARY KEY,
    programme text NOT NULL REFERENCES programmes,
    enterprise text NOT NULL,
    bank text NOT NULL,
    loan_principal_fen bigint NOT NULL,
    loan_rate_bps integer NOT NULL,
    term_months integer NOT NULL,
    premium_rate_bps integer NOT NULL,
    financing_doc_hash text,
    issued date NOT NULL,
    premium_fen bigint NOT NULL,
    subsidy_fen bigint NOT NULL,
    insured_amount_fen bigint NOT NULL,
    loan text,
    -- The rate filing that allowed its premium rate (R6.1, 报行合一).
    filing_hash text REFERENCES filings
);
CREATE INDEX policies_programme ON policies (programme);

CREATE TABLE loans (
    id text PRIMARY KEY,
    policy text NOT NULL REFERENCES policies,
    programme text NOT NULL REFERENCES programmes,
    bank text NOT NULL,
    enterprise text NOT NULL,
    rate_bps integer NOT NULL,
    term_months integer NOT NULL,
    start date NOT NULL,
    maturity date NOT NULL,
    status text NOT NULL,
    outstanding_principal_fen bigint NOT NULL,
    claim text
);
CREATE INDEX loans_programme ON loans (programme);

CREATE TABLE repayments (
    height bigint NOT NULL,
    index integer NOT NULL,
    loan text NOT NULL REFERENCES loans,
    date date NOT NULL,
    amount_fen bigint NOT NULL,
    reference text NOT NULL,
    PRIMARY KEY (height, index),
    FOREIGN KEY (height, index) REFERENCES transactions
);

CREATE TABLE claims (
    id text PRIMARY KEY,
    loan text NOT NULL REFERENCES loans,
    programme text NOT NULL REFERENCES programmes,
    bank text NOT NULL,
    insurer text NOT NULL,
    status text NOT NULL,
    filed date NOT NULL,
    completed date,
    decision_due date,
    payment_due date,
    decided date,
    paid date,
    late boolean NOT NULL,
    loss_fen bigint NOT NULL,
    bank_retained_fen bigint,
    insurer_gross_fen bigint,
    fund_direct_fen bigint,
    fund_layer_fen bigint,
    insurer_pays_bank_fen bigint,
    fund_fen bigint,
    fund_shortfall_fen bigint,
    reinsurer_fen bigint,
    insurer_retained_fen bigint,
    reject_reason text,
    recovered_fen bigint NOT NULL,
    recovery_bank_fen bigint NOT NULL,
    recovery_insurer_fen bigint NOT NULL,
    recovery_fund_fen bigint NOT NULL,
    recovery_reinsurer_fen bigint NOT NULL
);
CREATE INDEX claims_programme ON claims (programme);

CREATE TABLE recoveries (
    height bigint NOT NULL,
    index integer NOT NULL,
    claim text NOT NULL REFERENCES claims,
    date date NOT NULL,
    amount_fen bigint NOT NULL,
    reference text NOT NULL,
    PRIMARY KEY (height, index),
    FOREIGN KEY (height, index) REFERENCES transactions
);

-- The consortium's accepted changes (R11) and the organisations that approved each.
CREATE TABLE governance_changes (
    height bigint NOT NULL,
    index integer NOT NULL,
    type text NOT NULL,
    approvers jsonb NOT NULL,
    PRIMARY KEY (height, index),
    FOREIGN KEY (height, index) REFERENCES transactions
);
