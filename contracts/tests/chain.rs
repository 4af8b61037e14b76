//! Block execution: the path the proposer, every validator and the auditor share.

use contracts::chain::{
    admit, check_execution, execute_block, genesis_state, is_committed, verify_txs, BlockEnv,
    BlockError,
};
use ledger::action::{CreateFund, FundTopUp};
use ledger::block::{BlockHeader, BlockId, Outcome};
use ledger::crypto::{PublicKey, SecretKey};
use ledger::genesis::{Genesis, GenesisOrg, GenesisValidator, GovernanceRule, Params};
use ledger::state::{chain_root, MemoryStore, StateStore};
use ledger::tx::{SignedTx, TxBody};
use ledger::{Action, Code, Date, Fen, Id, OrgKind, Text};

/// The suite of the chains these tests make.
const SUITE: ledger::crypto::Suite = ledger::crypto::Suite::Ed25519Blake3;

fn id(s: &str) -> Id {
    Id::new(s).unwrap()
}

/// What a validator does with a block's transactions: verify every signature (in one
/// batch), then execute.
fn execute(
    state: &MemoryStore,
    root: &[u8; 32],
    env: &BlockEnv,
    txs: &[SignedTx],
) -> Result<contracts::chain::Executed, BlockError> {
    let verified = verify_txs(&env.chain_id, SUITE, txs)?;
    execute_block(state, root, env, &verified)
}

/// What intake does before a transaction reaches the pool.
fn intake(state: &MemoryStore, env: &BlockEnv, tx: &SignedTx) -> Result<(), BlockError> {
    let verified = verify_txs(&env.chain_id, SUITE, std::slice::from_ref(tx))?;
    admit(state, env, &verified[0])
}

struct Chain {
    gov: SecretKey,
    bank: SecretKey,
    store: MemoryStore,
    root: [u8; 32],
}

fn chain() -> Chain {
    let gov = SecretKey::from_seed([1; 32]);
    let bank = SecretKey::from_seed([2; 32]);
    let validator = SecretKey::from_seed([3; 32]);
    let genesis = Genesis {
        crypto_suite: SUITE,
        chain_id: id("xinbao-test"),
        protocol_version: 1,
        genesis_time_ms: 0,
        organisations: vec![
            GenesisOrg {
                id: id("gov"),
                kind: OrgKind::Government,
                admin_key: gov.public_key(),
            },
            GenesisOrg {
                id: id("bank"),
                kind: OrgKind::Bank,
                admin_key: bank.public_key(),
            },
        ],
        validators: vec![GenesisValidator {
            org: id("gov"),
            consensus_key: validator.public_key(),
            voting_power: 1,
            address: Text::new("/ip4/127.0.0.1/tcp/1").unwrap(),
            transport: None,
        }],
        staff_keys: vec![],
        params: Params {
            block_time_ms: 1000,
            block_txs_max: 100,
            tx_expiry_heights_max: 100,
            heartbeat_ms: ledger::genesis::HEARTBEAT_MS_DEFAULT,
            upgrade_lead_heights: ledger::genesis::UPGRADE_LEAD_HEIGHTS_DEFAULT,
            obligor_limit_fen: None,
        },
        governance: GovernanceRule::default(),
    };
    let mut store = MemoryStore::new();
    let (writes, root) = genesis_state(&genesis);
    assert_eq!(root, chain_root(SUITE, &genesis.hash(), &writes));
    store.apply(&writes);
    Chain {
        gov,
        bank,
        store,
        root,
    }
}

fn env(height: u64) -> BlockEnv {
    BlockEnv {
        suite: SUITE,
        chain_id: id("xinbao-test"),
        height,
        // 2025-03-01 midday in UTC+8
        time_ms: "2025-03-01".parse::<Date>().unwrap().unix_ms_cst_noon() as u64,
        tx_expiry_heights_max: 100,
    }
}

fn signed(action: Action, nonce: u64, expires: u64, keys: &[&SecretKey]) -> SignedTx {
    let mut tx = SignedTx::unsigned(TxBody {
        chain_id: id("xinbao-test"),
        nonce,
        expires_at_height: expires,
        action,
    });
    for key in keys {
        tx.sign(key).unwrap();
    }
    tx
}

fn create_fund() -> Action {
    Action::CreateFund(CreateFund {
        id: id("fund"),
        government: id("gov"),
        annual_cap_fen: Fen(1_000),
    })
}

fn top_up(amount: u64) -> Action {
    Action::FundTopUp(FundTopUp {
        fund: id("fund"),
        amount_fen: Fen(amount),
        reference: Text::new("r").unwrap(),
    })
}

#[test]
fn receipts_record_acceptance_and_rejection_and_only_acceptance_changes_rulebook_state() {
    let c = chain();
    let txs = vec![
        signed(create_fund(), 1, 10, &[&c.gov]),
        // The bank may not top up the government's fund.
        signed(top_up(500), 2, 10, &[&c.bank]),
        signed(top_up(0), 3, 10, &[&c.gov]),
        signed(top_up(500), 4, 10, &[&c.gov]),
    ];
    let executed = execute(&c.store, &c.root, &env(1), &txs).unwrap();
    let outcomes: Vec<Outcome> = executed.receipts.iter().map(|r| r.outcome).collect();
    assert_eq!(
        outcomes,
        vec![
            Outcome::Accepted,
            Outcome::Rejected(Code::Unauthorized),
            Outcome::Rejected(Code::InvalidField),
            Outcome::Accepted,
        ]
    );
    assert_eq!(executed.date, "2025-03-01".parse::<Date>().unwrap());
    // Same inputs, same roots.
    let again = execute(&c.store, &c.root, &env(1), &txs).unwrap();
    assert_eq!(again, executed);
    // A different order gives a different state root.
    let mut swapped = txs.clone();
    swapped.swap(0, 3);
    let other = execute(&c.store, &c.root, &env(1), &swapped).unwrap();
    assert_ne!(other.state_root, executed.state_root);
    assert_ne!(other.tx_root, executed.tx_root);
}

#[test]
fn a_transaction_is_committed_once_and_forgotten_after_its_expiry() {
    let mut c = chain();
    let tx = signed(create_fund(), 1, 2, &[&c.gov]);
    let executed = execute(&c.store, &c.root, &env(1), std::slice::from_ref(&tx)).unwrap();
    c.store.apply(&executed.writes);
    assert!(is_committed(&c.store, &tx.id(SUITE)));

    // The same id again, in a later block or twice in one block: the block is invalid.
    let again = execute(
        &c.store,
        &executed.state_root,
        &env(2),
        std::slice::from_ref(&tx),
    );
    assert!(matches!(again, Err(BlockError::Duplicate { index: 0, .. })));
    let fresh = signed(top_up(1), 9, 5, &[&c.gov]);
    let twice = execute(
        &c.store,
        &executed.state_root,
        &env(2),
        &[fresh.clone(), fresh],
    );
    assert!(matches!(twice, Err(BlockError::Duplicate { index: 1, .. })));

    // Past its expiry it is refused as expired, and forgotten from state.
    let expired = execute(
        &c.store,
        &executed.state_root,
        &env(3),
        std::slice::from_ref(&tx),
    );
    assert!(matches!(
        expired,
        Err(BlockError::Expired {
            expires_at_height: 2,
            ..
        })
    ));
    let empty2 = execute(&c.store, &executed.state_root, &env(2), &[]).unwrap();
    c.store.apply(&empty2.writes);
    assert!(is_committed(&c.store, &tx.id(SUITE)));
    let empty3 = execute(&c.store, &empty2.state_root, &env(3), &[]).unwrap();
    c.store.apply(&empty3.writes);
    assert!(!is_committed(&c.store, &tx.id(SUITE)));
}

#[test]
fn bad_signatures_other_chains_and_far_expiry_make_the_block_invalid() {
    let c = chain();
    let mut tampered = signed(create_fund(), 1, 10, &[&c.gov]);
    tampered.body.nonce = 2;
    assert!(matches!(
        execute(&c.store, &c.root, &env(1), &[tampered]),
        Err(BlockError::BadTransaction { index: 0, .. })
    ));

    let mut foreign = SignedTx::unsigned(TxBody {
        chain_id: id("another-chain"),
        nonce: 1,
        expires_at_height: 10,
        action: create_fund(),
    });
    foreign.sign(&c.gov).unwrap();
    assert!(matches!(
        intake(&c.store, &env(1), &foreign),
        Err(BlockError::BadTransaction { .. })
    ));

    let far = signed(create_fund(), 1, 1_000, &[&c.gov]);
    assert!(matches!(
        intake(&c.store, &env(1), &far),
        Err(BlockError::ExpiryTooFar { .. })
    ));

    let unsigned = signed(create_fund(), 1, 10, &[]);
    assert!(matches!(
        intake(&c.store, &env(1), &unsigned),
        Err(BlockError::BadTransaction { .. })
    ));
}

#[test]
fn an_unregistered_key_is_ordered_as_unauthorized() {
    let c = chain();
    let stranger = SecretKey::from_seed([77; 32]);
    let tx = signed(create_fund(), 1, 10, &[&stranger]);
    assert!(
        intake(&c.store, &env(1), &tx).is_ok(),
        "signatures alone are valid"
    );
    let executed = execute(&c.store, &c.root, &env(1), &[tx]).unwrap();
    assert_eq!(
        executed.receipts[0].outcome,
        Outcome::Rejected(Code::Unauthorized)
    );
}

#[test]
fn a_header_that_does_not_match_re_execution_is_named() {
    let c = chain();
    let txs = vec![signed(create_fund(), 1, 10, &[&c.gov])];
    let executed = execute(&c.store, &c.root, &env(1), &txs).unwrap();
    let mut header = BlockHeader {
        chain_id: id("xinbao-test"),
        height: 1,
        protocol_version: 1,
        time_ms: env(1).time_ms,
        previous: BlockId([0; 32]),
        tx_root: executed.tx_root,
        receipts_root: executed.receipts_root,
        state_root: executed.state_root,
        validator_set_hash: [0; 32],
        proposer: PublicKey::Ed25519([0; 32]),
    };
    assert_eq!(check_execution(&header, &executed), Ok(()));
    header.state_root[0] ^= 1;
    let err = check_execution(&header, &executed).unwrap_err();
    assert!(
        matches!(
            err,
            BlockError::HeaderMismatch {
                field: "state_root",
                ..
            }
        ),
        "{err}"
    );
    header.state_root[0] ^= 1;
    header.receipts_root[5] ^= 1;
    assert!(matches!(
        check_execution(&header, &executed),
        Err(BlockError::HeaderMismatch {
            field: "receipts_root",
            ..
        })
    ));
}
