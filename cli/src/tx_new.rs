//! `xinbao tx new TYPE --FIELD VALUE …`: any transaction of the rulebook (DOMAIN.md R3–R8,
//! staff keys, and the governance changes of R11) as the unsigned file `tx sign` takes,
//! so staff write no JSON by hand.
//!
//! Each type's fields, their kinds and units are in one table ([`TYPES`]);
//! `xinbao tx new TYPE --help` prints it. Fields of the rulebook's nested objects are
//! named with a dot (`--split.bank-bps 3000`), `-` and `_` alike. Before the file is
//! written, the action is checked as the rulebook checks a transaction's form (R2.4 check
//! (1)): its shape, then the rulebook itself run on an empty ledger, where a malformed
//! field is `InvalidField` (or `SharesMustSumTo10000`) before anything else can fail.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{bail, ensure, Context};
use ledger::crypto::{PublicKey, Suite};
use ledger::state::MemoryStore;
use ledger::tx::{SignedTx, TxBody};
use ledger::{Action, Code, Date, Id};
use serde_json::{Map, Value};

use crate::node_client::NodeClient;

/// What a field holds, and how its value is written on the command line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Id,
    Text,
    Fen,
    Bps,
    Count(&'static str),
    Bool,
    Date,
    Key,
    Organisation,
    Ids,
    Dates,
    BpsList,
    Choice(&'static [&'static str]),
    Address,
    /// A node's transport key bound by its consensus key (`keys bind-transport`).
    Transport,
    /// R14.3: `KIND=GRADE,GRADE@ISSUER,ISSUER;KIND=…`, or the JSON list itself.
    Eligibility,
}

impl Kind {
    fn describe(self) -> String {
        match self {
            Kind::Id => "an id".into(),
            Kind::Text => "text".into(),
            Kind::Fen => "fen (1/100 yuan), a whole number".into(),
            Kind::Bps => "basis points (1/10000), a whole number".into(),
            Kind::Count(unit) => format!("a whole number of {unit}"),
            Kind::Bool => "true or false".into(),
            Kind::Date => "a date, YYYY-MM-DD".into(),
            Kind::Key => "a public key: ed25519:HEX or sm2:04HEX (bare 64 hex digits: ed25519), \
                 or a .public file"
                .into(),
            Kind::Transport => "the node's transport key binding: the file `xinbao keys \
                 bind-transport` wrote, or its JSON {\"key\", \"signature\"}"
                .into(),
            Kind::Organisation => {
                "Bank, Insurer, Government, Regulator, Reinsurer or Auditor".into()
            }
            Kind::Ids => "ids, separated by commas".into(),
            Kind::Dates => "dates YYYY-MM-DD, separated by commas (may be empty)".into(),
            Kind::BpsList => "basis points, separated by commas".into(),
            Kind::Choice(options) => format!("one of {}", options.join(", ")),
            Kind::Address => "a p2p address, /ip4/A.B.C.D/tcp/PORT or /dns4/HOST/tcp/PORT".into(),
            Kind::Eligibility => "entries KIND=GRADE,GRADE@ISSUER,ISSUER separated by ';' \
                 (or the JSON list [{\"kind\", \"grades\", \"issuers\"}])"
                .into(),
        }
    }
}

/// One field of a transaction type.
#[derive(Debug, Clone, Copy)]
pub struct Field {
    /// The JSON name; a dot names a field of a nested object.
    pub name: &'static str,
    pub kind: Kind,
    pub required: bool,
    pub help: &'static str,
}

const fn req(name: &'static str, kind: Kind, help: &'static str) -> Field {
    Field {
        name,
        kind,
        required: true,
        help,
    }
}

const fn opt(name: &'static str, kind: Kind, help: &'static str) -> Field {
    Field {
        name,
        kind,
        required: false,
        help,
    }
}

const MONTHS: Kind = Kind::Count("months");
const DAYS: Kind = Kind::Count("days");

/// Every transaction type: its name, its rule, and its fields.
pub const TYPES: &[(&str, &str, &[Field])] = &[
    (
        "FileRate",
        "R3.1: the rates an insurer may charge for a product (insurer and regulator sign)",
        &[
            req("insurer", Kind::Id, "the insurer"),
            req("product", Kind::Id, "the product"),
            req(
                "rates_bps",
                Kind::BpsList,
                "the premium rates filed, each at most 10000",
            ),
            req("valid_from", Kind::Date, "first day the rates apply"),
            req("valid_to", Kind::Date, "last day the rates apply"),
            req("filing_ref", Kind::Text, "the filing's reference"),
        ],
    ),
    (
        "CreateFund",
        "R4.1: a government's fund (the government signs)",
        &[
            req("id", Kind::Id, "the fund"),
            req("government", Kind::Id, "the government that runs it"),
            req(
                "annual_cap_fen",
                Kind::Fen,
                "most the fund pays in one calendar year",
            ),
        ],
    ),
    (
        "FundTopUp",
        "R4.2: money into the fund (its government signs)",
        &[
            req("fund", Kind::Id, "the fund"),
            req("amount_fen", Kind::Fen, "the amount"),
            req("reference", Kind::Text, "the payment's reference"),
        ],
    ),
    (
        "CreateProgramme",
        "R5: the risk-share agreement (government, every bank, insurer, reinsurer sign)",
        &[
            req("id", Kind::Id, "the programme"),
            req("name", Kind::Text, "its name"),
            req("product", Kind::Id, "the insurer's product"),
            req(
                "period_start",
                Kind::Date,
                "first day policies may be issued",
            ),
            req("period_end", Kind::Date, "last day policies may be issued"),
            req("government", Kind::Id, "the government"),
            req("fund", Kind::Id, "the government's fund"),
            req("banks", Kind::Ids, "the banks"),
            req("insurer", Kind::Id, "the insurer"),
            opt("reinsurer", Kind::Id, "the reinsurer, if any"),
            req("split.bank_bps", Kind::Bps, "the bank's share of a loss"),
            req("split.insurer_bps", Kind::Bps, "the insurer's share"),
            req(
                "split.fund_bps",
                Kind::Bps,
                "the fund's share (the three sum to 10000)",
            ),
            req(
                "cover",
                Kind::Choice(&["Principal", "PrincipalAndInterest"]),
                "what a policy insures",
            ),
            req("limits.max_loan_fen", Kind::Fen, "largest loan"),
            req("limits.max_term_months", MONTHS, "longest term"),
            req(
                "limits.benchmark_rate_bps",
                Kind::Bps,
                "the benchmark loan rate",
            ),
            req(
                "limits.max_uplift_bps",
                Kind::Bps,
                "most a loan rate may exceed it, as a share of it",
            ),
            req(
                "limits.max_premium_rate_bps",
                Kind::Bps,
                "highest premium rate",
            ),
            req(
                "limits.max_all_in_bps",
                Kind::Bps,
                "highest loan rate plus premium rate",
            ),
            req("subsidy.bps", Kind::Bps, "the fund's share of the premium"),
            req(
                "subsidy.mode",
                Kind::Choice(&["None", "Upfront", "OnRepayment"]),
                "when the fund pays it",
            ),
            req(
                "fund_layer.kind",
                Kind::Choice(&["None", "ExcessOfLossRatio", "InsurerCap"]),
                "the fund's layer over the insurer's claims",
            ),
            opt(
                "fund_layer.threshold_bps",
                Kind::Bps,
                "ExcessOfLossRatio: the loss ratio above which the fund shares",
            ),
            opt(
                "fund_layer.share_bps",
                Kind::Bps,
                "ExcessOfLossRatio: the fund's share of the excess",
            ),
            opt(
                "fund_layer.cap_bps",
                Kind::Bps,
                "InsurerCap: the insurer's claims cap as a share of premium written",
            ),
            req(
                "reinsurance_quota_bps",
                Kind::Bps,
                "the reinsurer's quota share of the insurer's net loss (0 without one)",
            ),
            req(
                "triggers.suspend_loss_ratio_bps",
                Kind::Bps,
                "loss ratio that suspends (0: off)",
            ),
            req(
                "triggers.suspend_overdue_bps",
                Kind::Bps,
                "overdue ratio that suspends (0: off)",
            ),
            req(
                "triggers.warn_at_bps",
                Kind::Bps,
                "share of a threshold that warns (0: no warnings)",
            ),
            req(
                "claims.interest_dpd",
                DAYS,
                "days an instalment is past due before a claim",
            ),
            req(
                "claims.principal_dpd",
                DAYS,
                "days principal is past due before a claim",
            ),
            req("claims.decide_days", DAYS, "days the insurer has to decide"),
            req(
                "claims.pay_business_days",
                Kind::Count("business days"),
                "business days the insurer has to pay",
            ),
            opt(
                "opening.premium_written_fen",
                Kind::Fen,
                "premium written before the ledger",
            ),
            opt(
                "opening.claims_gross_fen",
                Kind::Fen,
                "claims before the ledger",
            ),
            opt(
                "eligibility",
                Kind::Eligibility,
                "R14.3, from protocol version 3: the attestations a policy's enterprise needs",
            ),
        ],
    ),
    (
        "ReviewProgramme",
        "R5.1: a risk review (any member)",
        &[req("programme", Kind::Id, "the programme")],
    ),
    (
        "ResumeProgramme",
        "R5.2: lift a suspension (every party and the regulator)",
        &[req("programme", Kind::Id, "the programme")],
    ),
    (
        "IssuePolicy",
        "R6.1: a policy (the insurer signs)",
        &[
            req("id", Kind::Id, "the policy"),
            req("programme", Kind::Id, "the programme"),
            req("enterprise", Kind::Id, "the enterprise's opaque id"),
            req("bank", Kind::Id, "the lending bank"),
            req("loan_principal_fen", Kind::Fen, "the loan's principal"),
            req("loan_rate_bps", Kind::Bps, "the loan's yearly rate"),
            req("term_months", MONTHS, "the loan's term"),
            req("premium_rate_bps", Kind::Bps, "the premium rate, as filed"),
            opt(
                "financing_doc_hash",
                Kind::Id,
                "the hash of the financing document",
            ),
        ],
    ),
    (
        "DisburseLoan",
        "R6.3: the loan on a policy (its bank signs)",
        &[
            req("id", Kind::Id, "the loan"),
            req("policy", Kind::Id, "the policy"),
        ],
    ),
    (
        "RecordRepayment",
        "R6.5: a repayment (the bank signs)",
        &[
            req("loan", Kind::Id, "the loan"),
            req("amount_fen", Kind::Fen, "the amount"),
            req("reference", Kind::Text, "the payment's reference"),
        ],
    ),
    (
        "FlagEnterprise",
        "R6.7: no more policies for an enterprise (any bank or insurer)",
        &[
            req("enterprise", Kind::Id, "the enterprise"),
            req("reason", Kind::Text, "why"),
        ],
    ),
    (
        "UnflagEnterprise",
        "R6.7: lift a flag (the regulator)",
        &[
            req("enterprise", Kind::Id, "the enterprise"),
            opt("reason", Kind::Text, "why"),
        ],
    ),
    (
        "FileClaim",
        "R7.1: a claim on a loan (its bank signs)",
        &[
            req("id", Kind::Id, "the claim"),
            req("loan", Kind::Id, "the loan"),
            req("documents", Kind::Ids, "the documents filed"),
        ],
    ),
    (
        "RequestDocuments",
        "R7.2: ask once for missing documents (the insurer)",
        &[
            req("claim", Kind::Id, "the claim"),
            req("missing", Kind::Ids, "the documents missing"),
        ],
    ),
    (
        "SubmitDocuments",
        "R7.2: complete the documents (the bank)",
        &[
            req("claim", Kind::Id, "the claim"),
            req("documents", Kind::Ids, "the documents"),
        ],
    ),
    (
        "DecideClaim",
        "R7.3: approve or reject (the insurer)",
        &[
            req("claim", Kind::Id, "the claim"),
            req("approve", Kind::Bool, "true approves"),
            opt(
                "reason",
                Kind::Choice(&["NotCovered", "DocumentsInvalid", "Fraud"]),
                "a rejection's reason",
            ),
        ],
    ),
    (
        "ConfirmClaimPayment",
        "R7.4: the insurer paid the bank (the insurer)",
        &[
            req("claim", Kind::Id, "the claim"),
            req("reference", Kind::Text, "the payment's reference"),
        ],
    ),
    (
        "RecordRecovery",
        "R7.6: money recovered on a claim (its bank or insurer)",
        &[
            req("claim", Kind::Id, "the claim"),
            req("amount_fen", Kind::Fen, "the amount"),
            req("reference", Kind::Text, "the recovery's reference"),
        ],
    ),
    (
        "SetCalendar",
        "R8: a year's holidays and make-up working days (the regulator)",
        &[
            req("year", Kind::Count("years (the calendar year)"), "the year"),
            req("holidays", Kind::Dates, "the holidays"),
            req("workdays", Kind::Dates, "the make-up working days"),
        ],
    ),
    (
        "RegisterStaffKey",
        "a staff key of an organisation (the organisation signs)",
        &[
            req("org", Kind::Id, "the organisation"),
            req("public_key", Kind::Key, "the staff member's public key"),
        ],
    ),
    (
        "RevokeStaffKey",
        "withdraw a staff key (the organisation signs)",
        &[
            req("org", Kind::Id, "the organisation"),
            req("public_key", Kind::Key, "the key"),
        ],
    ),
    (
        "AdmitOrganisation",
        "R11.4: a new member (admin keys of the approvers sign)",
        &[
            req("org", Kind::Id, "the new organisation"),
            req("kind", Kind::Organisation, "its kind"),
            req(
                "admin_key",
                Kind::Key,
                "its admin key (member.json's admin_key)",
            ),
        ],
    ),
    (
        "RemoveOrganisation",
        "R11.4: a member leaves; its keys and nodes stop counting",
        &[req("org", Kind::Id, "the organisation")],
    ),
    (
        "RotateAdminKey",
        "R11.4: an organisation's new admin key",
        &[
            req("org", Kind::Id, "the organisation"),
            req("admin_key", Kind::Key, "the new admin key"),
        ],
    ),
    (
        "AddValidator",
        "R11.4: a node of an organisation; voting power 0 adds a follower",
        &[
            req("org", Kind::Id, "the organisation that runs it"),
            req("consensus_key", Kind::Key, "its consensus key"),
            req("voting_power", Kind::Count("votes"), "its voting power"),
            req("address", Kind::Address, "where peers reach it"),
            opt(
                "transport",
                Kind::Transport,
                "its ed25519 transport key, bound by the consensus key (required for an SM2 key)",
            ),
        ],
    ),
    (
        "RemoveValidator",
        "R11.4: a node leaves the roster",
        &[req("consensus_key", Kind::Key, "its consensus key")],
    ),
    (
        "SetVotingPower",
        "R11.4: a validator's new voting power (0: a follower)",
        &[
            req("consensus_key", Kind::Key, "its consensus key"),
            req("voting_power", Kind::Count("votes"), "the new voting power"),
        ],
    ),
    (
        "RotateValidatorKey",
        "R11.4: a node's new consensus key",
        &[
            req("consensus_key", Kind::Key, "the current key"),
            req("new_consensus_key", Kind::Key, "the new key"),
            opt("address", Kind::Address, "its new address, if it moves"),
            opt(
                "new_transport",
                Kind::Transport,
                "its transport key, bound by the new key (required for an SM2 key)",
            ),
        ],
    ),
    (
        "SetParams",
        "R11.4: the consensus parameters",
        &[
            req(
                "block_time_ms",
                Kind::Count("milliseconds"),
                "target time between blocks",
            ),
            req(
                "block_txs_max",
                Kind::Count("transactions"),
                "most transactions in a block",
            ),
            req(
                "tx_expiry_heights_max",
                Kind::Count("heights"),
                "how far ahead a transaction may expire",
            ),
            opt(
                "heartbeat_ms",
                Kind::Count("milliseconds"),
                "how often an idle consortium still makes a block (default ten minutes)",
            ),
            opt(
                "upgrade_lead_heights",
                Kind::Count("heights"),
                "how far ahead an upgrade must be scheduled, at least 3 (default 100)",
            ),
            opt(
                "obligor_limit_fen",
                Kind::Fen,
                "R13.3, from protocol version 2: the most retained liability an insurer may hold on one enterprise (unchanged when not given)",
            ),
        ],
    ),
    (
        "SetGovernance",
        "R11.3: the rule for approving changes",
        &[
            req(
                "threshold_bps",
                Kind::Bps,
                "share of the voting organisations that must approve",
            ),
            req(
                "regulator_required",
                Kind::Bool,
                "whether a regulator must be among them",
            ),
        ],
    ),
    (
        "ScheduleUpgrade",
        "R12.3: the next protocol version, from an activation height on",
        &[
            req("version", Kind::Count("version"), "the version in force plus one"),
            req(
                "activation_height",
                Kind::Count("height"),
                "the new version's first height: at least upgrade_lead_heights after the block that commits this",
            ),
        ],
    ),
    (
        "CancelUpgrade",
        "R12.3: withdraw the pending upgrade before its activation height",
        &[req("version", Kind::Count("version"), "the pending upgrade's version")],
    ),
    (
        "Attest",
        "R14.1, from protocol version 3: a graded fact about an enterprise (its issuer signs)",
        &[
            req("id", Kind::Id, "the attestation"),
            req("issuer", Kind::Id, "the member that states it"),
            req("enterprise", Kind::Id, "the enterprise"),
            req("kind", Kind::Id, "what it is about, e.g. tax-credit"),
            req("grade", Kind::Id, "the grade, e.g. A"),
            req(
                "facts_hash",
                Kind::Id,
                "the hash of the facts, which stay with the issuer",
            ),
            req("valid_from", Kind::Date, "first day it holds"),
            req("valid_to", Kind::Date, "last day it holds"),
        ],
    ),
    (
        "RevokeAttestation",
        "R14.2, from protocol version 3: an attestation counts for nothing from now on (its issuer signs)",
        &[req("id", Kind::Id, "the attestation")],
    ),
];

/// The fields of a type.
pub fn fields_of(type_name: &str) -> Option<(&'static str, &'static [Field])> {
    TYPES
        .iter()
        .find(|(name, _, _)| *name == type_name)
        .map(|(_, rule, fields)| (*rule, *fields))
}

/// The text of `tx new TYPE --help`.
pub fn type_help(type_name: &str) -> Option<String> {
    let (rule, fields) = fields_of(type_name)?;
    let mut text = format!("xinbao tx new {type_name}: {rule}\n\nFields:\n");
    for f in fields {
        let flag = format!("--{}", f.name.replace('_', "-"));
        text.push_str(&format!(
            "  {flag:<34} {}{}\n  {:<34} {}\n",
            f.help,
            if f.required { "" } else { " (optional)" },
            "",
            f.kind.describe()
        ));
    }
    Some(text)
}

/// The text listing every type.
pub fn types_help() -> String {
    let mut text =
        String::from("Transaction types (xinbao tx new TYPE --help lists a type's fields):\n");
    for (name, rule, _) in TYPES {
        text.push_str(&format!("  {name:<22} {rule}\n"));
    }
    text
}

/// The suite an action's keys imply (each suite has one algorithm); the default suite for
/// an action that names no key.
fn suite_of(action: &Action) -> Suite {
    action
        .keys()
        .first()
        .map_or_else(Suite::default, |k| Suite::of(k.algorithm()))
}

/// A transport binding given as its JSON or as a file holding it, checked for form.
fn transport_value(text: &str) -> anyhow::Result<Value> {
    let json = if text.trim_start().starts_with('{') {
        text.to_string()
    } else {
        let bytes = crate::files::read_bounded(std::path::Path::new(text), 4096)?;
        String::from_utf8(bytes).context("not UTF-8")?
    };
    let binding: ledger::validators::TransportKey =
        serde_json::from_str(&json).context("expected {\"key\", \"signature\"}")?;
    Ok(serde_json::to_value(binding)?)
}

fn key_value(text: &str) -> anyhow::Result<String> {
    if let Ok(key) = PublicKey::parse(text) {
        return Ok(key.to_string());
    }
    let path = std::path::Path::new(text);
    ensure!(
        path.extension().is_some_and(|e| e == "public"),
        "{text:?} is neither a public key (ed25519:HEX, sm2:HEX or 64 hex digits) nor a .public key file"
    );
    Ok(PublicKey::read_file(path)?.to_string())
}

fn list(text: &str) -> Vec<&str> {
    text.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .collect()
}

/// The JSON value of `text` for a field of `kind`.
fn value_of(field: &Field, text: &str) -> anyhow::Result<Value> {
    let bad = |what: &str| anyhow::anyhow!("--{} {text:?}: {what}", field.name.replace('_', "-"));
    let number = |t: &str| -> anyhow::Result<Value> {
        t.trim()
            .parse::<u64>()
            .map(Value::from)
            .map_err(|_| bad("expected a whole number"))
    };
    let date = |t: &str| -> anyhow::Result<Value> {
        t.parse::<Date>()
            .map(|d| Value::String(d.to_string()))
            .map_err(|_| bad("expected a date YYYY-MM-DD"))
    };
    Ok(match field.kind {
        Kind::Id => {
            Id::new(text).map_err(|e| bad(&e.to_string()))?;
            Value::String(text.to_string())
        }
        Kind::Text | Kind::Address => Value::String(text.to_string()),
        Kind::Fen | Kind::Bps | Kind::Count(_) => number(text)?,
        Kind::Bool => match text {
            "true" => Value::Bool(true),
            "false" => Value::Bool(false),
            _ => return Err(bad("expected true or false")),
        },
        Kind::Date => date(text)?,
        Kind::Key => Value::String(key_value(text).map_err(|e| bad(&e.to_string()))?),
        Kind::Transport => transport_value(text).map_err(|e| bad(&format!("{e:#}")))?,
        Kind::Organisation => {
            Value::String(crate::ceremony::parse_kind(text).map(|k| format!("{k:?}"))?)
        }
        Kind::Ids => Value::Array(
            list(text)
                .into_iter()
                .map(|s| Value::String(s.into()))
                .collect(),
        ),
        Kind::Dates => Value::Array(
            list(text)
                .into_iter()
                .map(date)
                .collect::<anyhow::Result<_>>()?,
        ),
        Kind::BpsList => Value::Array(
            list(text)
                .into_iter()
                .map(number)
                .collect::<anyhow::Result<_>>()?,
        ),
        Kind::Choice(options) => {
            ensure!(
                options.contains(&text),
                bad(&format!("expected one of {}", options.join(", ")))
            );
            Value::String(text.to_string())
        }
        Kind::Eligibility => eligibility_value(text).map_err(|why| bad(&why))?,
    })
}

/// R14.3's list from its compact form (`KIND=GRADES@ISSUERS;…`) or its JSON form.
fn eligibility_value(text: &str) -> Result<Value, String> {
    if text.trim_start().starts_with('[') {
        return serde_json::from_str(text).map_err(|e| format!("not a JSON list: {e}"));
    }
    let entries = text
        .split(';')
        .filter(|entry| !entry.trim().is_empty())
        .map(|entry| {
            let (kind, rest) = entry
                .split_once('=')
                .ok_or("an entry is KIND=GRADES@ISSUERS")?;
            let (grades, issuers) = rest
                .split_once('@')
                .ok_or("an entry is KIND=GRADES@ISSUERS")?;
            Ok(serde_json::json!({
                "kind": kind.trim(),
                "grades": list(grades),
                "issuers": list(issuers),
            }))
        })
        .collect::<Result<Vec<Value>, String>>()?;
    Ok(Value::Array(entries))
}

/// Builds the action's JSON form from `--field value` pairs and checks it as the rulebook
/// checks a transaction's form.
pub fn build_action(type_name: &str, pairs: &[(String, String)]) -> anyhow::Result<Action> {
    let Some((_, fields)) = fields_of(type_name) else {
        bail!("no transaction type {type_name:?}\n{}", types_help());
    };
    let mut root = Map::new();
    root.insert("type".into(), Value::String(type_name.into()));
    let mut seen = Vec::new();
    for (name, text) in pairs {
        let name = name.replace('-', "_");
        let Some(field) = fields.iter().find(|f| f.name == name) else {
            bail!(
                "{type_name} has no field --{}; see xinbao tx new {type_name} --help",
                name.replace('_', "-")
            );
        };
        ensure!(
            !seen.contains(&field.name),
            "--{} given twice",
            field.name.replace('_', "-")
        );
        seen.push(field.name);
        let value = value_of(field, text)?;
        match field.name.split_once('.') {
            None => {
                root.insert(field.name.into(), value);
            }
            Some((outer, inner)) => {
                let object = root
                    .entry(outer.to_string())
                    .or_insert_with(|| Value::Object(Map::new()));
                if let Value::Object(map) = object {
                    map.insert(inner.into(), value);
                }
            }
        }
    }
    let missing: Vec<String> = fields
        .iter()
        .filter(|f| f.required && !seen.contains(&f.name))
        .map(|f| format!("--{}", f.name.replace('_', "-")))
        .collect();
    ensure!(
        missing.is_empty(),
        "{type_name} needs {}; see xinbao tx new {type_name} --help",
        missing.join(", ")
    );
    let action: Action = serde_json::from_value(Value::Object(root)).map_err(|e| {
        anyhow::anyhow!("the rulebook would reject this {type_name}: InvalidField ({e})")
    })?;
    // R12.3: whether an upgrade's version and height fit depends on the chain (the version
    // in force, the lead); here only what is wrong on any chain.
    if matches!(
        action,
        Action::ScheduleUpgrade(_) | Action::CancelUpgrade(_)
    ) {
        check_upgrade_form(type_name, &action)?;
        return Ok(action);
    }
    // R2.4 (1) on an empty ledger: a malformed field fails before anything else can.
    let ctx = contracts::TxContext {
        date: Date::from_ymd(2000, 1, 1).expect("a date"),
        signers: Vec::new(),
        approvers: Vec::new(),
        height: 1,
        version: contracts::upgrade::NEWEST,
        // The suite the action's own keys imply: the chain's suite is judged by the node.
        suite: suite_of(&action),
    };
    match contracts::execute(&MemoryStore::new(), &ctx, &action) {
        Err(code @ (Code::InvalidField | Code::SharesMustSumTo10000)) => bail!(
            "the rulebook would reject this {type_name}: {code} (R9): a field's value is out of \
             its range (a zero amount, an empty list, a date range that runs backwards, shares \
             that do not sum to 10000, a blank address, a key that is not a point…)"
        ),
        _ => Ok(action),
    }
}

/// R12.3 for an upgrade's scheduling or cancelling, on any chain: the versions that can
/// never be right; a warning when this program would not run the version scheduled.
fn check_upgrade_form(type_name: &str, action: &Action) -> anyhow::Result<()> {
    match action {
        Action::ScheduleUpgrade(tx) => {
            ensure!(
                tx.version >= 2,
                "the rulebook would reject this {type_name}: InvalidField (R12.3): version 1 is \
                 where every chain starts; an upgrade names the version in force plus one"
            );
            if !contracts::upgrade::SUPPORTED.contains(&tx.version) {
                eprintln!(
                    "warning: this program runs protocol versions up to {}; every node must run \
                     a program that supports version {} before height {}, or it stops there",
                    contracts::upgrade::NEWEST,
                    tx.version,
                    tx.activation_height
                );
            }
        }
        Action::CancelUpgrade(tx) => {
            ensure!(
                tx.version >= 1,
                "the rulebook would reject this {type_name}: InvalidField (R12.3): versions \
                 count from 1"
            );
            ensure!(
                tx.version >= 2,
                "the rulebook would reject this {type_name}: UnknownUpgrade (R12.3): no upgrade \
                 to version {} can be pending",
                tx.version
            );
        }
        _ => {}
    }
    Ok(())
}

/// R12.3, against the chain a node describes: an upgrade names the version in force plus
/// one, at least the lead ahead, while none is pending; a cancel names the pending one.
/// The rulebook decides when the transaction commits; this only spares the approvers a
/// signature on a change that could not be accepted now.
fn upgrade_fits(action: &Action, status: &ledger::api::StatusView) -> anyhow::Result<()> {
    let in_force = status.next_protocol_version;
    match action {
        Action::ScheduleUpgrade(tx) => {
            ensure!(
                tx.version == in_force + 1,
                "the rulebook would reject this ScheduleUpgrade: InvalidField (R12.3): version \
                 {in_force} is in force, so an upgrade names version {}",
                in_force + 1
            );
            let earliest = status.height + 1 + status.params.upgrade_lead_heights;
            ensure!(
                tx.activation_height >= earliest,
                "the rulebook would reject this ScheduleUpgrade: InvalidField (R12.3): the \
                 activation height must be at least upgrade_lead_heights ({}) after the block \
                 that commits it: {earliest} or later",
                status.params.upgrade_lead_heights
            );
            if let Some(pending) = &status.pending_upgrade {
                bail!(
                    "the rulebook would reject this ScheduleUpgrade: UpgradePending (R12.3): \
                     version {} is scheduled from height {}",
                    pending.version,
                    pending.activation_height
                );
            }
        }
        Action::CancelUpgrade(tx) => {
            ensure!(
                status
                    .pending_upgrade
                    .as_ref()
                    .is_some_and(|p| p.version == tx.version),
                "the rulebook would reject this CancelUpgrade: UnknownUpgrade (R12.3): no \
                 upgrade to version {} is pending",
                tx.version
            );
        }
        _ => {}
    }
    Ok(())
}

/// `tx new` arguments: the type, then `--name value` pairs, options included.
pub fn run(type_name: Option<String>, args: Vec<String>) -> anyhow::Result<ExitCode> {
    let Some(type_name) = type_name.filter(|t| t != "list") else {
        print!("{}", types_help());
        return Ok(ExitCode::SUCCESS);
    };
    if print_help(&type_name, &args)? {
        return Ok(ExitCode::SUCCESS);
    }
    let mut pairs = field_pairs(&args)?;
    let mut take = |key: &str| -> Option<String> {
        let at = pairs.iter().position(|(n, _)| n == key)?;
        Some(pairs.remove(at).1)
    };
    let out = take("out").map(PathBuf::from);
    let node = take("node");
    let env_tls = crate::tls::ClientTls::from_env();
    let tls = crate::tls::ClientTls {
        cacert: take("cacert").map(PathBuf::from).or(env_tls.cacert),
        cert: take("cert").map(PathBuf::from).or(env_tls.cert),
        key: take("key").map(PathBuf::from).or(env_tls.key),
    };
    let chain_id = take("chain-id");
    let expires = take("expires-at-height");
    let nonce = take("nonce");
    let action = build_action(&type_name, &pairs)?;
    let (chain_id, expires_at_height) = chain_and_expiry(&action, node, &tls, chain_id, expires)?;
    let nonce: u64 = match nonce {
        Some(n) => n.parse().context("--nonce")?,
        None => rand_core::RngCore::next_u64(&mut rand_core::OsRng),
    };
    let tx = SignedTx::unsigned(TxBody {
        chain_id: Id::new(chain_id.as_str()).map_err(|e| anyhow::anyhow!("the chain id: {e}"))?,
        nonce,
        expires_at_height,
        action,
    });
    write_tx(&tx, &type_name, out.as_deref())?;
    Ok(ExitCode::SUCCESS)
}

/// Prints the help `--help` asks for, of the command or of transaction type `type_name`;
/// whether it did.
fn print_help(type_name: &str, args: &[String]) -> anyhow::Result<bool> {
    if type_name == "--help" || type_name == "-h" {
        println!(
            "Write a new, unsigned transaction file.\n\n\
             Usage: xinbao tx new TYPE --FIELD VALUE … [--out FILE] \
             (--node URL [--cacert PEM --cert PEM --key PEM] | --chain-id ID \
             --expires-at-height H) [--nonce N]\n\n\
             The fields are checked as the rulebook checks a transaction's form \
             (InvalidField, R9) before anyone signs. Without --out the file is printed.\n"
        );
        print!("{}", types_help());
        return Ok(true);
    }
    if !args.iter().any(|a| a == "--help" || a == "-h") {
        return Ok(false);
    }
    match type_help(type_name) {
        Some(text) => {
            print!("{text}");
            print!(
                "\nAnd: --out FILE (the file to write), the chain: --node URL (chain id and \
                 expiry from the node, over HTTPS with --cacert, --cert and --key or \
                 XINBAO_CACERT, XINBAO_CERT and XINBAO_KEY), or --chain-id ID \
                 --expires-at-height H; --nonce N (default: random)\n"
            );
            Ok(true)
        }
        None => bail!("no transaction type {type_name:?}\n{}", types_help()),
    }
}

/// The `--FIELD VALUE` (or `--FIELD=VALUE`) pairs of `args`, in order.
fn field_pairs(args: &[String]) -> anyhow::Result<Vec<(String, String)>> {
    let mut pairs = Vec::new();
    let mut i = 0;
    while i < args.len() {
        let arg = &args[i];
        let Some(name) = arg.strip_prefix("--") else {
            bail!("{arg:?}: expected --FIELD VALUE");
        };
        let (name, value) = match name.split_once('=') {
            Some((n, v)) => (n.to_string(), v.to_string()),
            None => {
                i += 1;
                let value = args
                    .get(i)
                    .with_context(|| format!("--{name} needs a value"))?;
                (name.to_string(), value.clone())
            }
        };
        pairs.push((name, value));
        i += 1;
    }
    Ok(pairs)
}

/// The chain id and expiry height of a new transaction: from the node at `node` (its
/// expiry bound from the tip, unless `expires` is given), or both given.
fn chain_and_expiry(
    action: &Action,
    node: Option<String>,
    tls: &crate::tls::ClientTls,
    chain_id: Option<String>,
    expires: Option<String>,
) -> anyhow::Result<(String, u64)> {
    Ok(match (node, chain_id, expires) {
        (Some(url), None, expires) => {
            let client = NodeClient::connect(&url, tls)?;
            let status = client.status()?;
            upgrade_fits(action, &status)?;
            let chain = status.chain_id.to_string();
            let expires = match expires {
                Some(h) => h.parse().context("--expires-at-height")?,
                None => status.height + status.params.tx_expiry_heights_max,
            };
            (chain, expires)
        }
        (None, Some(chain), Some(expires)) => {
            (chain, expires.parse().context("--expires-at-height")?)
        }
        _ => bail!("name the chain: --node URL, or --chain-id ID with --expires-at-height H"),
    })
}

/// Writes the unsigned `tx` to `out` (never over a file), or prints it.
fn write_tx(tx: &SignedTx, type_name: &str, out: Option<&std::path::Path>) -> anyhow::Result<()> {
    let text = serde_json::to_string_pretty(tx)? + "\n";
    match out {
        Some(path) => {
            ensure!(
                !path.exists(),
                "{} exists; a transaction file is never overwritten",
                path.display()
            );
            std::fs::write(path, text).with_context(|| format!("{}", path.display()))?;
            let suite = suite_of(&tx.body.action);
            println!(
                "{}: {} {} (its id on an {suite} chain), unsigned",
                path.display(),
                type_name,
                tx.id(suite)
            );
            println!(
                "each organisation that must sign: xinbao tx sign {} --key KEY",
                path.display()
            );
        }
        None => print!("{text}"),
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect()
    }

    #[test]
    fn every_action_type_is_in_the_table_with_the_json_field_names() {
        assert_eq!(TYPES.len(), 33);
        for (name, _, fields) in TYPES {
            for field in *fields {
                assert!(
                    field
                        .name
                        .chars()
                        .all(|c| c.is_ascii_lowercase() || c == '_' || c == '.'),
                    "{name}.{}",
                    field.name
                );
            }
            assert!(type_help(name).unwrap().contains(name));
        }
    }

    #[test]
    fn a_governance_change_is_built_and_its_form_checked() {
        let key = ledger::crypto::SecretKey::from_seed([7; 32]).public_key();
        let action = build_action(
            "AddValidator",
            &pairs(&[
                ("org", "bank-e"),
                ("consensus-key", &key.to_hex()),
                ("voting-power", "1"),
                ("address", "/ip4/10.0.0.5/tcp/27000"),
            ]),
        )
        .unwrap();
        assert_eq!(action.type_name(), "AddValidator");
        let blank = build_action(
            "AddValidator",
            &pairs(&[
                ("org", "bank-e"),
                ("consensus-key", &key.to_hex()),
                ("voting-power", "1"),
                ("address", " "),
            ]),
        );
        assert!(blank.unwrap_err().to_string().contains("InvalidField"));
        let missing = build_action("AddValidator", &pairs(&[("org", "bank-e")]));
        assert!(missing.unwrap_err().to_string().contains("--consensus-key"));
        let unknown = build_action("RemoveOrganisation", &pairs(&[("orgg", "x")]));
        assert!(unknown.unwrap_err().to_string().contains("no field --orgg"));
    }

    #[test]
    fn nested_fields_and_the_rulebooks_form_checks() {
        let programme = |bank: &str| {
            pairs(&[
                ("id", "p"),
                ("name", "P"),
                ("product", "prod"),
                ("period-start", "2025-01-01"),
                ("period-end", "2025-12-31"),
                ("government", "gov"),
                ("fund", "f"),
                ("banks", "bank-a,bank-b"),
                ("insurer", "ins"),
                ("split.bank-bps", bank),
                ("split.insurer-bps", "5000"),
                ("split.fund-bps", "3000"),
                ("cover", "Principal"),
                ("limits.max-loan-fen", "1000"),
                ("limits.max-term-months", "12"),
                ("limits.benchmark-rate-bps", "400"),
                ("limits.max-uplift-bps", "1000"),
                ("limits.max-premium-rate-bps", "300"),
                ("limits.max-all-in-bps", "900"),
                ("subsidy.bps", "5000"),
                ("subsidy.mode", "Upfront"),
                ("fund-layer.kind", "InsurerCap"),
                ("fund-layer.cap-bps", "8500"),
                ("reinsurance-quota-bps", "0"),
                ("triggers.suspend-loss-ratio-bps", "0"),
                ("triggers.suspend-overdue-bps", "0"),
                ("triggers.warn-at-bps", "0"),
                ("claims.interest-dpd", "30"),
                ("claims.principal-dpd", "30"),
                ("claims.decide-days", "10"),
                ("claims.pay-business-days", "5"),
            ])
        };
        let action = build_action("CreateProgramme", &programme("2000")).unwrap();
        let Action::CreateProgramme(p) = action else {
            panic!()
        };
        assert_eq!(p.split.bank_bps, 2000);
        assert_eq!(p.banks.len(), 2);
        let err = build_action("CreateProgramme", &programme("2500")).unwrap_err();
        assert!(err.to_string().contains("SharesMustSumTo10000"), "{err}");
        let zero = build_action(
            "FundTopUp",
            &pairs(&[("fund", "f"), ("amount-fen", "0"), ("reference", "r")]),
        );
        assert!(zero.unwrap_err().to_string().contains("InvalidField"));
        let not_a_number = build_action(
            "FundTopUp",
            &pairs(&[("fund", "f"), ("amount-fen", "12.5"), ("reference", "r")]),
        );
        assert!(not_a_number
            .unwrap_err()
            .to_string()
            .contains("whole number"));

        // R14.3: eligibility in its compact form or as JSON, checked before anyone signs.
        let mut with = programme("2000");
        with.push((
            "eligibility".into(),
            "tax-credit=A,B@tax-bureau; no-default=clean@bank-a".into(),
        ));
        let Action::CreateProgramme(p) = build_action("CreateProgramme", &with).unwrap() else {
            panic!()
        };
        let entries = p.eligibility.unwrap();
        assert_eq!(entries.len(), 2);
        assert_eq!(entries[0].kind.as_str(), "tax-credit");
        assert_eq!(entries[0].grades.len(), 2);
        assert_eq!(entries[1].issuers[0].as_str(), "bank-a");
        let mut json_form = programme("2000");
        json_form.push((
            "eligibility".into(),
            r#"[{"kind": "tax-credit", "grades": ["A"], "issuers": ["tax-bureau"]}]"#.into(),
        ));
        assert!(build_action("CreateProgramme", &json_form).is_ok());
        for bad in ["tax-credit=A", "tax-credit=@tax-bureau", "x=A@t;x=B@t"] {
            let mut wrong = programme("2000");
            wrong.push(("eligibility".into(), bad.into()));
            assert!(build_action("CreateProgramme", &wrong).is_err(), "{bad}");
        }
    }

    #[test]
    fn an_upgrade_is_checked_against_the_chain_the_node_describes() {
        let status = |pending: serde_json::Value| -> ledger::api::StatusView {
            serde_json::from_value(serde_json::json!({
                "chain_id": "c", "genesis_hash": "00".repeat(32), "height": 100,
                "latest_block_id": "00".repeat(32), "latest_time_ms": 0,
                "state_root": "00".repeat(32), "peer_id": "p", "validators": [],
                "validator_set_hash": "00".repeat(32),
                "params": {"block_time_ms": 500, "block_txs_max": 10, "tx_expiry_heights_max": 100,
                           "upgrade_lead_heights": 10},
                "peers": [], "mempool_txs": 0, "devnet_clock": false,
                "protocol_version": 1, "next_protocol_version": 1, "supported_versions": [1, 2],
                "pending_upgrade": pending,
            }))
            .unwrap()
        };
        let schedule = |version, activation_height| {
            Action::ScheduleUpgrade(ledger::action::ScheduleUpgrade {
                version,
                activation_height,
            })
        };
        let idle = status(Value::Null);
        assert!(upgrade_fits(&schedule(2, 111), &idle).is_ok());
        let err = upgrade_fits(&schedule(2, 110), &idle).unwrap_err();
        assert!(err.to_string().contains("111 or later"), "{err}");
        let err = upgrade_fits(&schedule(3, 200), &idle).unwrap_err();
        assert!(err.to_string().contains("names version 2"), "{err}");
        let cancel = Action::CancelUpgrade(ledger::action::CancelUpgrade { version: 2 });
        assert!(upgrade_fits(&cancel, &idle)
            .unwrap_err()
            .to_string()
            .contains("UnknownUpgrade"));
        let busy = status(serde_json::json!(
            {"version": 2, "activation_height": 150, "scheduled_height": 90}
        ));
        assert!(upgrade_fits(&schedule(2, 200), &busy)
            .unwrap_err()
            .to_string()
            .contains("UpgradePending"));
        assert!(upgrade_fits(&cancel, &busy).is_ok());
    }

    #[test]
    fn an_attestation_and_an_upgrade_are_written_from_flags() {
        let attest = |from: &str, to: &str| {
            build_action(
                "Attest",
                &pairs(&[
                    ("id", "att-1"),
                    ("issuer", "tax-bureau"),
                    ("enterprise", "ent-1"),
                    ("kind", "tax-credit"),
                    ("grade", "A"),
                    ("facts-hash", "sha256:00"),
                    ("valid-from", from),
                    ("valid-to", to),
                ]),
            )
        };
        assert!(matches!(
            attest("2025-01-01", "2025-12-31").unwrap(),
            Action::Attest(_)
        ));
        let err = attest("2026-01-01", "2025-12-31").unwrap_err();
        assert!(err.to_string().contains("InvalidField"), "{err}");
        let upgrade = build_action(
            "ScheduleUpgrade",
            &pairs(&[("version", "2"), ("activation-height", "500")]),
        )
        .unwrap();
        assert_eq!(
            upgrade,
            Action::ScheduleUpgrade(ledger::action::ScheduleUpgrade {
                version: 2,
                activation_height: 500
            })
        );
        let err = build_action(
            "ScheduleUpgrade",
            &pairs(&[("version", "1"), ("activation-height", "500")]),
        )
        .unwrap_err();
        assert!(err.to_string().contains("InvalidField"), "{err}");
    }
}
