//! Strategies for every encoded type, shared by the property tests.
#![allow(dead_code)]

use ledger::action::*;
use ledger::block::{
    Block, BlockHeader, BlockId, CommitCertificate, CommitSignature, Outcome, Receipt,
};
use ledger::crypto::{PublicKey, Signature, Suite};
use ledger::genesis::{
    Genesis, GenesisOrg, GenesisStaffKey, GenesisValidator, GovernanceRule, Params,
};
use ledger::tx::{SignedTx, TxBody, TxId, TxSignature};
use ledger::{Action, Code, Date, Fen, Id, OrgKind, Text};
use proptest::prelude::*;
use proptest::test_runner::{Config, RngSeed};

/// Seeded and modest: the same cases on every run, quick on two cores. A failure prints the
/// failing value; the fixed seed replays it.
pub fn config(cases: u32, seed: u64) -> Config {
    Config {
        cases,
        rng_seed: RngSeed::Fixed(seed),
        failure_persistence: None,
        ..Config::default()
    }
}

pub fn id() -> impl Strategy<Value = Id> {
    prop_oneof!["[a-z][a-z0-9-]{0,15}", "\\PC{1,16}",]
        .prop_map(|s| Id::new(s).expect("strategy makes valid ids"))
}

pub fn text() -> impl Strategy<Value = Text> {
    proptest::collection::vec(any::<char>(), 0..24)
        .prop_map(|cs| Text::new(cs.into_iter().collect::<String>()).expect("short text"))
}

pub fn date() -> impl Strategy<Value = Date> {
    (-719_162i32..=2_932_896).prop_map(|d| Date::from_days(d).expect("in range"))
}

pub fn fen() -> impl Strategy<Value = Fen> {
    any::<u64>().prop_map(Fen)
}

pub fn bps() -> impl Strategy<Value = u64> {
    prop_oneof![0u64..=20_000, any::<u64>()]
}

pub fn public_key() -> impl Strategy<Value = PublicKey> {
    prop_oneof![
        any::<[u8; 32]>().prop_map(PublicKey::Ed25519),
        proptest::collection::vec(any::<u8>(), 65)
            .prop_map(|bytes| PublicKey::Sm2(bytes.try_into().expect("65 bytes"))),
    ]
}

pub fn signature() -> impl Strategy<Value = Signature> {
    (any::<[u8; 32]>(), any::<[u8; 32]>()).prop_map(|(a, b)| {
        let mut bytes = [0u8; 64];
        bytes[..32].copy_from_slice(&a);
        bytes[32..].copy_from_slice(&b);
        Signature(bytes)
    })
}

pub fn ids(max: usize) -> impl Strategy<Value = Vec<Id>> {
    proptest::collection::vec(id(), 0..max)
}

fn split() -> impl Strategy<Value = Split> {
    (bps(), bps(), bps()).prop_map(|(bank_bps, insurer_bps, fund_bps)| Split {
        bank_bps,
        insurer_bps,
        fund_bps,
    })
}

fn limits() -> impl Strategy<Value = Limits> {
    (fen(), any::<u64>(), bps(), bps(), bps(), bps()).prop_map(|(a, b, c, d, e, f)| Limits {
        max_loan_fen: a,
        max_term_months: b,
        benchmark_rate_bps: c,
        max_uplift_bps: d,
        max_premium_rate_bps: e,
        max_all_in_bps: f,
    })
}

fn subsidy() -> impl Strategy<Value = Subsidy> {
    (
        bps(),
        prop_oneof![
            Just(SubsidyMode::None),
            Just(SubsidyMode::Upfront),
            Just(SubsidyMode::OnRepayment)
        ],
    )
        .prop_map(|(bps, mode)| Subsidy { bps, mode })
}

fn fund_layer() -> impl Strategy<Value = FundLayer> {
    prop_oneof![
        Just(FundLayer::None),
        (bps(), bps()).prop_map(|(threshold_bps, share_bps)| FundLayer::ExcessOfLossRatio {
            threshold_bps,
            share_bps
        }),
        bps().prop_map(|cap_bps| FundLayer::InsurerCap { cap_bps }),
    ]
}

fn triggers() -> impl Strategy<Value = Triggers> {
    (bps(), bps(), bps()).prop_map(|(a, b, c)| Triggers {
        suspend_loss_ratio_bps: a,
        suspend_overdue_bps: b,
        warn_at_bps: c,
    })
}

fn claim_terms() -> impl Strategy<Value = ClaimTerms> {
    (any::<u64>(), any::<u64>(), any::<u64>(), any::<u64>()).prop_map(|(a, b, c, d)| ClaimTerms {
        interest_dpd: a,
        principal_dpd: b,
        decide_days: c,
        pay_business_days: d,
    })
}

fn create_programme() -> impl Strategy<Value = CreateProgramme> {
    let parties = (
        id(),
        text(),
        id(),
        date(),
        date(),
        id(),
        id(),
        ids(4),
        id(),
        proptest::option::of(id()),
    );
    let terms = (
        split(),
        prop_oneof![Just(Cover::Principal), Just(Cover::PrincipalAndInterest)],
        limits(),
        subsidy(),
        fund_layer(),
        bps(),
        triggers(),
        claim_terms(),
        (fen(), fen()).prop_map(|(a, b)| Opening {
            premium_written_fen: a,
            claims_gross_fen: b,
        }),
    );
    let eligibility = proptest::option::of(proptest::collection::vec(
        (
            id(),
            proptest::collection::vec(id(), 0..3),
            proptest::collection::vec(id(), 0..3),
        )
            .prop_map(|(kind, grades, issuers)| Eligibility {
                kind,
                grades,
                issuers,
            }),
        0..3,
    ));
    (parties, terms, eligibility).prop_map(
        |(
            (
                id,
                name,
                product,
                period_start,
                period_end,
                government,
                fund,
                banks,
                insurer,
                reinsurer,
            ),
            (
                split,
                cover,
                limits,
                subsidy,
                fund_layer,
                reinsurance_quota_bps,
                triggers,
                claims,
                opening,
            ),
            eligibility,
        )| CreateProgramme {
            id,
            name,
            product,
            period_start,
            period_end,
            government,
            fund,
            banks,
            insurer,
            reinsurer,
            split,
            cover,
            limits,
            subsidy,
            fund_layer,
            reinsurance_quota_bps,
            triggers,
            claims,
            opening,
            eligibility,
        },
    )
}

/// Every variant of [`Action`], equally likely.
pub fn action() -> impl Strategy<Value = Action> {
    let arms: Vec<BoxedStrategy<Action>> = vec![
        (
            id(),
            id(),
            proptest::collection::vec(bps(), 0..6),
            date(),
            date(),
            text(),
        )
            .prop_map(
                |(insurer, product, rates_bps, valid_from, valid_to, filing_ref)| {
                    Action::FileRate(FileRate {
                        insurer,
                        product,
                        rates_bps,
                        valid_from,
                        valid_to,
                        filing_ref,
                    })
                },
            )
            .boxed(),
        (id(), id(), fen())
            .prop_map(|(id, government, annual_cap_fen)| {
                Action::CreateFund(CreateFund {
                    id,
                    government,
                    annual_cap_fen,
                })
            })
            .boxed(),
        (id(), fen(), text())
            .prop_map(|(fund, amount_fen, reference)| {
                Action::FundTopUp(FundTopUp {
                    fund,
                    amount_fen,
                    reference,
                })
            })
            .boxed(),
        create_programme()
            .prop_map(|p| Action::CreateProgramme(Box::new(p)))
            .boxed(),
        id().prop_map(|programme| Action::ReviewProgramme(ProgrammeRef { programme }))
            .boxed(),
        id().prop_map(|programme| Action::ResumeProgramme(ProgrammeRef { programme }))
            .boxed(),
        (
            (id(), id(), id(), id()),
            (
                fen(),
                bps(),
                any::<u64>(),
                bps(),
                proptest::option::of(id()),
            ),
        )
            .prop_map(
                |(
                    (id, programme, enterprise, bank),
                    (
                        loan_principal_fen,
                        loan_rate_bps,
                        term_months,
                        premium_rate_bps,
                        financing_doc_hash,
                    ),
                )| {
                    Action::IssuePolicy(IssuePolicy {
                        id,
                        programme,
                        enterprise,
                        bank,
                        loan_principal_fen,
                        loan_rate_bps,
                        term_months,
                        premium_rate_bps,
                        financing_doc_hash,
                    })
                },
            )
            .boxed(),
        (id(), id())
            .prop_map(|(id, policy)| Action::DisburseLoan(DisburseLoan { id, policy }))
            .boxed(),
        (id(), fen(), text())
            .prop_map(|(loan, amount_fen, reference)| {
                Action::RecordRepayment(RecordRepayment {
                    loan,
                    amount_fen,
                    reference,
                })
            })
            .boxed(),
        (id(), text())
            .prop_map(|(enterprise, reason)| {
                Action::FlagEnterprise(FlagEnterprise { enterprise, reason })
            })
            .boxed(),
        (id(), proptest::option::of(text()))
            .prop_map(|(enterprise, reason)| {
                Action::UnflagEnterprise(UnflagEnterprise { enterprise, reason })
            })
            .boxed(),
        (id(), id(), ids(5))
            .prop_map(|(id, loan, documents)| {
                Action::FileClaim(FileClaim {
                    id,
                    loan,
                    documents,
                })
            })
            .boxed(),
        (id(), ids(5))
            .prop_map(|(claim, missing)| {
                Action::RequestDocuments(RequestDocuments { claim, missing })
            })
            .boxed(),
        (id(), ids(5))
            .prop_map(|(claim, documents)| {
                Action::SubmitDocuments(SubmitDocuments { claim, documents })
            })
            .boxed(),
        (id(), any::<bool>(), proptest::option::of(text()))
            .prop_map(|(claim, approve, reason)| {
                Action::DecideClaim(DecideClaim {
                    claim,
                    approve,
                    reason,
                })
            })
            .boxed(),
        (id(), text())
            .prop_map(|(claim, reference)| {
                Action::ConfirmClaimPayment(ConfirmClaimPayment { claim, reference })
            })
            .boxed(),
        (id(), fen(), text())
            .prop_map(|(claim, amount_fen, reference)| {
                Action::RecordRecovery(RecordRecovery {
                    claim,
                    amount_fen,
                    reference,
                })
            })
            .boxed(),
        (
            any::<u64>(),
            proptest::collection::vec(date(), 0..5),
            proptest::collection::vec(date(), 0..5),
        )
            .prop_map(|(year, holidays, workdays)| {
                Action::SetCalendar(SetCalendar {
                    year,
                    holidays,
                    workdays,
                })
            })
            .boxed(),
        (id(), public_key())
            .prop_map(|(org, public_key)| Action::RegisterStaffKey(StaffKey { org, public_key }))
            .boxed(),
        (id(), public_key())
            .prop_map(|(org, public_key)| Action::RevokeStaffKey(StaffKey { org, public_key }))
            .boxed(),
        (id(), org_kind(), public_key())
            .prop_map(|(org, kind, admin_key)| {
                Action::AdmitOrganisation(AdmitOrganisation {
                    org,
                    kind,
                    admin_key,
                })
            })
            .boxed(),
        id().prop_map(|org| Action::RemoveOrganisation(OrgRef { org }))
            .boxed(),
        (id(), public_key())
            .prop_map(|(org, admin_key)| Action::RotateAdminKey(RotateAdminKey { org, admin_key }))
            .boxed(),
        (id(), public_key(), any::<u64>(), text())
            .prop_map(|(org, consensus_key, voting_power, address)| {
                Action::AddValidator(AddValidator {
                    org,
                    consensus_key,
                    voting_power,
                    address,
                    transport: None,
                })
            })
            .boxed(),
        public_key()
            .prop_map(|consensus_key| Action::RemoveValidator(ValidatorRef { consensus_key }))
            .boxed(),
        (public_key(), any::<u64>())
            .prop_map(|(consensus_key, voting_power)| {
                Action::SetVotingPower(SetVotingPower {
                    consensus_key,
                    voting_power,
                })
            })
            .boxed(),
        (public_key(), public_key(), proptest::option::of(text()))
            .prop_map(|(consensus_key, new_consensus_key, address)| {
                Action::RotateValidatorKey(RotateValidatorKey {
                    consensus_key,
                    new_consensus_key,
                    address,
                    new_transport: None,
                })
            })
            .boxed(),
        params().prop_map(Action::SetParams).boxed(),
        governance_rule().prop_map(Action::SetGovernance).boxed(),
        (any::<u32>(), any::<u64>())
            .prop_map(|(version, activation_height)| {
                Action::ScheduleUpgrade(ScheduleUpgrade {
                    version,
                    activation_height,
                })
            })
            .boxed(),
        any::<u32>()
            .prop_map(|version| Action::CancelUpgrade(CancelUpgrade { version }))
            .boxed(),
        ((id(), id(), id(), id(), id(), id()), date(), date())
            .prop_map(
                |((id, issuer, enterprise, kind, grade, facts_hash), valid_from, valid_to)| {
                    Action::Attest(Attest {
                        id,
                        issuer,
                        enterprise,
                        kind,
                        grade,
                        facts_hash,
                        valid_from,
                        valid_to,
                    })
                },
            )
            .boxed(),
        id().prop_map(|id| Action::RevokeAttestation(AttestationRef { id }))
            .boxed(),
    ];
    proptest::strategy::Union::new(arms)
}

/// The number of variants [`action`] draws from; a test checks it covers them all.
pub const ACTION_VARIANTS: usize = 33;

fn params() -> impl Strategy<Value = Params> {
    (
        any::<u64>(),
        any::<u32>(),
        any::<u64>(),
        any::<u64>(),
        any::<u64>(),
        proptest::option::of(any::<u64>()),
    )
        .prop_map(
            |(
                block_time_ms,
                block_txs_max,
                tx_expiry_heights_max,
                heartbeat_ms,
                upgrade_lead_heights,
                obligor_limit_fen,
            )| Params {
                block_time_ms,
                block_txs_max,
                tx_expiry_heights_max,
                heartbeat_ms,
                upgrade_lead_heights,
                obligor_limit_fen: obligor_limit_fen.map(Fen),
            },
        )
}

fn governance_rule() -> impl Strategy<Value = GovernanceRule> {
    (bps(), any::<bool>()).prop_map(|(threshold_bps, regulator_required)| GovernanceRule {
        threshold_bps,
        regulator_required,
    })
}

pub fn tx_body() -> impl Strategy<Value = TxBody> {
    (id(), any::<u64>(), any::<u64>(), action()).prop_map(
        |(chain_id, nonce, expires_at_height, action)| TxBody {
            chain_id,
            nonce,
            expires_at_height,
            action,
        },
    )
}

pub fn tx_signature() -> impl Strategy<Value = TxSignature> {
    (public_key(), signature()).prop_map(|(public_key, signature)| TxSignature {
        public_key,
        signature,
    })
}

pub fn signed_tx() -> impl Strategy<Value = SignedTx> {
    (tx_body(), proptest::collection::vec(tx_signature(), 0..4))
        .prop_map(|(body, signatures)| SignedTx { body, signatures })
}

pub fn hash32() -> impl Strategy<Value = [u8; 32]> {
    any::<[u8; 32]>()
}

pub fn block_header() -> impl Strategy<Value = BlockHeader> {
    (
        id(),
        any::<u64>(),
        any::<u32>(),
        any::<u64>(),
        hash32(),
        hash32(),
        hash32(),
        hash32(),
        hash32(),
        public_key(),
    )
        .prop_map(
            |(
                chain_id,
                height,
                protocol_version,
                time_ms,
                previous,
                tx_root,
                receipts_root,
                state_root,
                validator_set_hash,
                proposer,
            )| {
                BlockHeader {
                    chain_id,
                    height,
                    protocol_version,
                    time_ms,
                    previous: BlockId(previous),
                    tx_root,
                    receipts_root,
                    state_root,
                    validator_set_hash,
                    proposer,
                }
            },
        )
}

pub fn block() -> impl Strategy<Value = Block> {
    (block_header(), proptest::collection::vec(signed_tx(), 0..4))
        .prop_map(|(header, txs)| Block { header, txs })
}

pub fn receipt() -> impl Strategy<Value = Receipt> {
    let outcome = prop_oneof![
        Just(Outcome::Accepted),
        proptest::sample::select(Code::ALL.to_vec()).prop_map(Outcome::Rejected),
    ];
    (hash32(), outcome).prop_map(|(id, outcome)| Receipt {
        tx_id: TxId(id),
        outcome,
    })
}

pub fn commit_certificate() -> impl Strategy<Value = CommitCertificate> {
    (
        any::<u64>(),
        any::<u32>(),
        hash32(),
        proptest::collection::vec(
            (public_key(), signature()).prop_map(|(validator, signature)| CommitSignature {
                validator,
                signature,
            }),
            0..5,
        ),
    )
        .prop_map(|(height, round, block_id, signatures)| CommitCertificate {
            height,
            round,
            block_id: BlockId(block_id),
            signatures,
        })
}

fn org_kind() -> impl Strategy<Value = OrgKind> {
    proptest::sample::select(vec![
        OrgKind::Bank,
        OrgKind::Insurer,
        OrgKind::Government,
        OrgKind::Regulator,
        OrgKind::Reinsurer,
        OrgKind::Auditor,
    ])
}

pub fn genesis() -> impl Strategy<Value = Genesis> {
    let orgs = proptest::collection::vec(
        (id(), org_kind(), public_key()).prop_map(|(id, kind, admin_key)| GenesisOrg {
            id,
            kind,
            admin_key,
        }),
        0..5,
    );
    let validators = proptest::collection::vec(
        (id(), public_key(), any::<u64>(), text()).prop_map(
            |(org, consensus_key, voting_power, address)| GenesisValidator {
                org,
                consensus_key,
                voting_power,
                address,
                transport: None,
            },
        ),
        0..5,
    );
    let staff = proptest::collection::vec(
        (id(), public_key()).prop_map(|(org, public_key)| GenesisStaffKey { org, public_key }),
        0..4,
    );
    (
        (
            id(),
            prop_oneof![Just(Suite::Ed25519Blake3), Just(Suite::Sm2Sm3)],
        ),
        any::<u32>(),
        any::<u64>(),
        orgs,
        validators,
        staff,
        params(),
        governance_rule(),
    )
        .prop_map(
            |(
                (chain_id, crypto_suite),
                protocol_version,
                genesis_time_ms,
                organisations,
                validators,
                staff_keys,
                params,
                governance,
            )| {
                Genesis {
                    chain_id,
                    protocol_version,
                    crypto_suite,
                    genesis_time_ms,
                    organisations,
                    validators,
                    staff_keys,
                    params,
                    governance,
                }
            },
        )
}
