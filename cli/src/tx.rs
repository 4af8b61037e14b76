//! `xinbao tx`: transaction files, signed offline by each organisation in turn.
//!
//! A transaction file is the JSON form of a signed transaction:
//! `{chain_id, nonce, expires_at_height, action: {type, …}, signatures: [...]}`.
//! `tx new` writes one from command-line fields (`tx_new.rs`); `tx sign` adds one signature and rewrites the file in place (atomically); `tx show`
//! prints what the file asks for, its id and each signature's verdict. `tx submit` hands a
//! signed file to a node, and with `--wait` follows it into a block; `tx send` is `sign`
//! then `submit`.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{bail, Context};
use clap::Subcommand;
use ledger::codec::TX_BYTES_MAX;
use ledger::crypto::Suite;
use ledger::tx::{SignOutcome, SignedTx, TxError};
use serde_json::json;

use crate::files;
use crate::node_client::{NodeClient, NodeError};
use crate::tls::{ClientTls, SignerTls};

/// A transaction file is at most this long (its JSON form is larger than its binary one).
const TX_FILE_BYTES_MAX: u64 = 4 * TX_BYTES_MAX as u64;

/// `tx show` exit status when at least one signature does not verify.
const EXIT_INVALID_SIGNATURE: u8 = 1;
/// `tx submit` exit status when the node refuses the transaction or the rulebook rejects it.
const EXIT_REFUSED: u8 = 1;

#[derive(Debug, Subcommand)]
pub enum TxCommand {
    /// Write a new, unsigned transaction file: `xinbao tx new TYPE --FIELD VALUE … --out FILE`.
    ///
    /// Any transaction of the rulebook and of governance (R11). `xinbao tx new` lists the
    /// types, `xinbao tx new TYPE --help` a type's fields with their units. The chain comes
    /// from --node URL (its chain id, and an expiry as far ahead as it allows) or from
    /// --chain-id ID --expires-at-height H. The fields are checked as the rulebook checks a
    /// transaction's form (InvalidField) before anyone signs.
    // `--version` is a field (ScheduleUpgrade, CancelUpgrade), not the program's version.
    #[command(disable_help_flag = true, disable_version_flag = true)]
    New {
        /// The transaction type, e.g. AddValidator; `list` or none lists them.
        #[arg(value_name = "TYPE", allow_hyphen_values = true)]
        type_name: Option<String>,
        /// `--FIELD VALUE` pairs, and --out, --node, --chain-id, --expires-at-height, --nonce.
        #[arg(
            trailing_var_arg = true,
            allow_hyphen_values = true,
            value_name = "--FIELD VALUE"
        )]
        args: Vec<String>,
    },
    /// Add your signature to a transaction file, in place.
    ///
    /// Several organisations sign the same file in turn. Signing again with the same key
    /// changes nothing; if the body changed since that key signed, its signature is
    /// replaced.
    Sign {
        /// The transaction file (JSON).
        #[arg(value_name = "FILE")]
        file: PathBuf,
        /// Your secret key file (PATH.secret, or its stem), or a `pkcs11:` URI.
        #[arg(long, value_name = "PATH")]
        key: PathBuf,
    },
    /// Write the bytes a signer signs: `xinbao/tx/v1` followed by the transaction's id
    /// under the chain's suite, for a signature made outside xinbao (OpenSSL, a USB key's
    /// own tool) and added with `tx add-signature`.
    ///
    /// An SM2 signer signs them as GB/T 32918 says, with SM3 and the identifier
    /// 1234567812345678 (`openssl pkeyutl -sign -rawin -digest sm3 -pkeyopt
    /// distid:1234567812345678 -in FILE`); an ed25519 signer signs them as they are.
    Message {
        /// The transaction file (JSON).
        #[arg(value_name = "FILE")]
        file: PathBuf,
        /// Where to write the bytes; default: their hex on standard output.
        #[arg(long, value_name = "OUT")]
        out: Option<PathBuf>,
        /// The chain's crypto suite; a signed file's keys say it themselves. Default
        /// ed25519-blake3.
        #[arg(long, value_name = "SUITE")]
        crypto_suite: Option<Suite>,
    },
    /// Add a signature made outside xinbao over `tx message`'s bytes, in place; it is
    /// checked before it is added.
    AddSignature {
        /// The transaction file (JSON).
        #[arg(value_name = "FILE")]
        file: PathBuf,
        /// The signer's public key: its text (`sm2:04…`, `ed25519:…`), a key file, or an
        /// SM2 SubjectPublicKeyInfo in DER (PATH.der).
        #[arg(long, value_name = "KEY|PATH")]
        public_key: String,
        /// The signature: the hex of its 64 bytes (`r ‖ s`), or a file holding it in DER
        /// (`SEQUENCE {r, s}`, what OpenSSL writes).
        #[arg(long, value_name = "HEX|PATH")]
        signature: String,
    },
    /// Show a transaction file: its action, id and whether each signature verifies.
    ///
    /// Exit status: 0 when every signature present verifies (an unsigned file included),
    /// 1 when one does not or a key signs twice, 2 when the file cannot be read as a
    /// transaction. Whether the signers are the ones the rulebook requires is not judged
    /// here.
    Show {
        /// The transaction file (JSON).
        #[arg(value_name = "FILE")]
        file: PathBuf,
        /// Print one JSON object instead of text.
        #[arg(long)]
        json: bool,
        /// The chain's crypto suite, which the id is the hash of; a signed file's keys
        /// say it themselves. Default ed25519-blake3.
        #[arg(long, value_name = "SUITE")]
        crypto_suite: Option<Suite>,
    },
    /// Submit a signed transaction file to a node and print its id.
    ///
    /// With --wait, follow it until it is committed and print the height and the
    /// rulebook's verdict. Exit status: 0 submitted (with --wait: committed and accepted),
    /// 1 refused by the node (bad signature, unregistered key, another chain…) or rejected
    /// by the rulebook (its code is printed), 2 when the file cannot be read or the node
    /// cannot be reached.
    Submit {
        #[command(flatten)]
        submit: SubmitArgs,
        #[command(flatten)]
        tls: ClientTls,
    },
    /// Sign a transaction file with your key (in place, as `tx sign`), then submit it.
    /// Over HTTPS the client certificate's key is --tls-key, --key being the signer's.
    Send {
        /// Your secret key file (PATH.secret, or its stem), or a `pkcs11:` URI.
        #[arg(long, value_name = "PATH")]
        key: PathBuf,
        #[command(flatten)]
        submit: SubmitArgs,
        #[command(flatten)]
        tls: SignerTls,
    },
}

#[derive(Debug, clap::Args)]
pub struct SubmitArgs {
    /// The transaction files (JSON); several are sent in one request, and `-` reads a
    /// stream of transactions from standard input, one JSON object per line.
    #[arg(value_name = "FILE", required = true, num_args = 1..)]
    files: Vec<PathBuf>,
    /// The node's API address, e.g. http://127.0.0.1:28000.
    #[arg(long, value_name = "URL")]
    node: String,
    /// Wait until the transaction is committed and print its receipt.
    #[arg(long)]
    wait: bool,
    /// How long --wait waits, in seconds.
    #[arg(long, value_name = "SECONDS", default_value_t = 60)]
    timeout: u64,
    /// Send the canonical binary form instead of the JSON file form.
    #[arg(long)]
    binary: bool,
}

pub fn run(command: TxCommand) -> anyhow::Result<ExitCode> {
    match command {
        TxCommand::New { type_name, args } => crate::tx_new::run(type_name, args),
        TxCommand::Sign { file, key } => sign(&file, &key),
        TxCommand::Message {
            file,
            out,
            crypto_suite,
        } => message(&file, out.as_deref(), crypto_suite),
        TxCommand::AddSignature {
            file,
            public_key,
            signature,
        } => add_signature(&file, &public_key, &signature),
        TxCommand::Show {
            file,
            json,
            crypto_suite,
        } => show(&file, json, crypto_suite),
        TxCommand::Submit { submit: args, tls } => submit(&args, &tls),
        TxCommand::Send {
            key,
            submit: args,
            tls,
        } => {
            if args.files.iter().any(|file| file.as_os_str() == "-") {
                bail!("tx send signs files; sign a stream's transactions first, then tx submit -");
            }
            // One signer for every file: a module is opened and logged into once.
            let signer = crate::keys::signer_of(&key)?;
            for file in &args.files {
                sign_with(file, signer.as_ref())?;
            }
            submit(&args, &tls.into())
        }
    }
}

/// Transactions in one request of `tx submit`.
const SUBMIT_BATCH_MAX: usize = 1_000;

fn submit(args: &SubmitArgs, tls: &ClientTls) -> anyhow::Result<ExitCode> {
    match args.files.as_slice() {
        [file] if file.as_os_str() != "-" => submit_one(args, tls, file),
        _ => submit_many(args, tls),
    }
}

/// Every transaction of the files and streams named, with where it came from.
fn read_sources(files: &[PathBuf]) -> anyhow::Result<Vec<(String, SignedTx)>> {
    let mut txs = Vec::new();
    for file in files {
        if file.as_os_str() == "-" {
            use std::io::BufRead;
            for (n, line) in std::io::stdin().lock().lines().enumerate() {
                let line = line.context("reading standard input")?;
                if line.trim().is_empty() {
                    continue;
                }
                anyhow::ensure!(
                    line.len() as u64 <= TX_FILE_BYTES_MAX,
                    "standard input line {}: longer than {TX_FILE_BYTES_MAX} bytes",
                    n + 1
                );
                let tx = parse_tx(line.as_bytes(), &format!("standard input line {}", n + 1))?;
                txs.push((format!("line {}", n + 1), tx));
            }
        } else {
            txs.push((file.display().to_string(), read_tx_file(file)?));
        }
    }
    Ok(txs)
}

fn submit_many(args: &SubmitArgs, tls: &ClientTls) -> anyhow::Result<ExitCode> {
    let txs = read_sources(&args.files)?;
    let client = NodeClient::connect(&args.node, tls)?;
    let mut taken = Vec::new();
    let mut refused = 0usize;
    for chunk in txs.chunks(SUBMIT_BATCH_MAX) {
        let list: Vec<SignedTx> = chunk.iter().map(|(_, tx)| tx.clone()).collect();
        for ((source, _), result) in chunk.iter().zip(client.submit_many(&list)?) {
            match result {
                Ok(id) => {
                    println!("{id}  {source}");
                    taken.push((source.clone(), id));
                }
                Err(refusal) => {
                    refused += 1;
                    eprintln!("{source}: {refusal}");
                }
            }
        }
    }
    let mut rejected = 0usize;
    if args.wait {
        for (source, id) in &taken {
            let (height, code) = client.wait_committed(id, Duration::from_secs(args.timeout))?;
            match code {
                None => println!("{source}: committed at height {height}: accepted"),
                Some(code) => {
                    rejected += 1;
                    println!(
                        "{source}: committed at height {height}: rejected by the rulebook ({code})"
                    );
                }
            }
        }
    }
    eprintln!(
        "{} transactions: {} taken, {refused} refused{}",
        txs.len(),
        taken.len(),
        if args.wait {
            format!(", {rejected} rejected by the rulebook")
        } else {
            String::new()
        }
    );
    Ok(if refused + rejected == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(EXIT_REFUSED)
    })
}

fn submit_one(args: &SubmitArgs, tls: &ClientTls, file: &Path) -> anyhow::Result<ExitCode> {
    let tx = read_tx_file(file)?;
    let client = NodeClient::connect(&args.node, tls)?;
    let submitted = if args.binary {
        client.submit_binary(&tx)
    } else {
        client.submit(&tx)
    };
    let id = match submitted {
        Ok(id) => id,
        Err(error) => {
            return match error.downcast_ref::<NodeError>() {
                Some(refusal) => {
                    eprintln!("{}: {refusal}", file.display());
                    Ok(ExitCode::from(EXIT_REFUSED))
                }
                None => Err(error),
            };
        }
    };
    println!("{id}");
    if !args.wait {
        return Ok(ExitCode::SUCCESS);
    }
    let (height, code) = client.wait_committed(&id, Duration::from_secs(args.timeout))?;
    match code {
        None => {
            println!("committed at height {height}: accepted");
            Ok(ExitCode::SUCCESS)
        }
        Some(code) => {
            println!("committed at height {height}: rejected by the rulebook ({code})");
            Ok(ExitCode::from(EXIT_REFUSED))
        }
    }
}

/// Reads and parses a transaction file; every failure names the file.
pub fn read_tx_file(path: &Path) -> anyhow::Result<SignedTx> {
    let bytes = files::read_bounded(path, TX_FILE_BYTES_MAX)?;
    parse_tx(&bytes, &path.display().to_string())
}

/// A transaction's JSON form; every failure names `source`.
fn parse_tx(bytes: &[u8], source: &str) -> anyhow::Result<SignedTx> {
    let tx: SignedTx = serde_json::from_slice(bytes)
        .with_context(|| format!("{}: not a readable transaction file", source))?;
    // Every field the file shows must be part of what is signed: a field the action does
    // not have would be dropped silently, and a signer might believe it was agreed.
    let written: serde_json::Value = serde_json::from_slice(bytes)
        .with_context(|| format!("{}: not a readable transaction file", source))?;
    let understood = serde_json::to_value(&tx)
        .with_context(|| format!("{}: cannot re-encode the transaction", source))?;
    if let Some(field) = unknown_field(&written, &understood, "") {
        bail!(
            "{}: unknown field {field}: it is not part of a {} transaction and would not be signed",
            source,
            tx.body.action.type_name()
        );
    }
    let len = tx.to_bytes().len();
    if len > TX_BYTES_MAX {
        bail!(
            "{}: the transaction is {len} bytes encoded, over the limit of {TX_BYTES_MAX}",
            source
        );
    }
    Ok(tx)
}

/// The first key of an object in `written` that `understood` lacks at the same place.
fn unknown_field(
    written: &serde_json::Value,
    understood: &serde_json::Value,
    at: &str,
) -> Option<String> {
    use serde_json::Value;
    match (written, understood) {
        (Value::Object(w), Value::Object(u)) => w.iter().find_map(|(key, value)| {
            let here = if at.is_empty() {
                key.clone()
            } else {
                format!("{at}.{key}")
            };
            match u.get(key) {
                None => Some(here),
                Some(known) => unknown_field(value, known, &here),
            }
        }),
        (Value::Array(w), Value::Array(u)) => w
            .iter()
            .zip(u)
            .enumerate()
            .find_map(|(i, (value, known))| unknown_field(value, known, &format!("{at}[{i}]"))),
        _ => None,
    }
}

fn message(path: &Path, out: Option<&Path>, suite: Option<Suite>) -> anyhow::Result<ExitCode> {
    let tx = read_tx_file(path)?;
    let suite = match (suite, tx.signers_suite()) {
        (Some(asked), Some(signed)) if asked != signed => bail!(
            "{}: its signers are of the {signed} suite, not {asked}",
            path.display()
        ),
        (asked, signed) => asked.or(signed).unwrap_or_default(),
    };
    let bytes = [ledger::crypto::domain::TX, &tx.id(suite).0[..]].concat();
    match out {
        Some(out) => {
            files::replace(out, &bytes)?;
            eprintln!(
                "wrote the {} bytes to sign ({suite}) to {}",
                bytes.len(),
                out.display()
            );
        }
        None => println!("{}", hex::encode(&bytes)),
    }
    Ok(ExitCode::SUCCESS)
}

/// A signature made elsewhere, which signs only the message it was made for.
struct MadeElsewhere {
    public_key: ledger::crypto::PublicKey,
    signature: ledger::crypto::Signature,
}

impl ledger::crypto::Signer for MadeElsewhere {
    fn public_key(&self) -> ledger::crypto::PublicKey {
        self.public_key
    }

    fn try_sign(
        &self,
        domain: &[u8],
        message: &[u8],
    ) -> Result<ledger::crypto::Signature, ledger::crypto::SignerError> {
        self.public_key
            .verify(domain, message, &self.signature)
            .map_err(|e| {
                ledger::crypto::SignerError(format!(
                    "the signature does not verify over this transaction's message with {}: \
                     {e} (was it made over `xinbao tx message`'s bytes, with SM3 and the \
                     identifier {}?)",
                    self.public_key,
                    ledger::crypto::SM2_DISTID
                ))
            })?;
        Ok(self.signature)
    }
}

fn add_signature(path: &Path, public_key: &str, signature: &str) -> anyhow::Result<ExitCode> {
    let public_key = match ledger::crypto::PublicKey::parse(public_key) {
        Ok(key) => key,
        Err(_) => crate::keys::public_key_of(Path::new(public_key))
            .with_context(|| format!("--public-key {public_key}: neither a key nor a key file"))?,
    };
    let raw: [u8; 64] = match ledger::crypto::Signature::from_hex(signature) {
        Ok(signature) => signature.0,
        Err(_) => {
            let der = files::read_bounded(Path::new(signature), 128).with_context(|| {
                format!("--signature {signature}: neither 128 hex digits nor a file")
            })?;
            ledger::gm::signature_from_der(&der).with_context(|| {
                format!("{signature}: not a signature in DER (SEQUENCE {{INTEGER r, INTEGER s}})")
            })?
        }
    };
    sign_with(
        path,
        &MadeElsewhere {
            public_key,
            signature: ledger::crypto::Signature(raw),
        },
    )
}

fn sign(path: &Path, key_path: &Path) -> anyhow::Result<ExitCode> {
    sign_with(path, crate::keys::signer_of(key_path)?.as_ref())
}

fn sign_with(path: &Path, key: &dyn ledger::crypto::Signer) -> anyhow::Result<ExitCode> {
    let mut tx = read_tx_file(path)?;
    let outcome = tx
        .sign(key)
        .with_context(|| format!("{}: cannot sign", path.display()))?;
    if tx.to_bytes().len() > TX_BYTES_MAX {
        bail!(
            "{}: with this signature the transaction would exceed {TX_BYTES_MAX} bytes",
            path.display()
        );
    }
    if outcome != SignOutcome::AlreadySigned {
        let mut text = serde_json::to_string_pretty(&tx).context("encoding the transaction")?;
        text.push('\n');
        files::replace(path, text.as_bytes())?;
    }
    let what = match outcome {
        SignOutcome::Added => "signed",
        SignOutcome::AlreadySigned => "already signed (unchanged)",
        SignOutcome::Replaced => "signature replaced (the body had changed since)",
    };
    println!(
        "{}: {what} by {}; tx {}; {} signature(s)",
        path.display(),
        key.public_key(),
        tx.id(Suite::of(key.public_key().algorithm())),
        tx.signatures.len()
    );
    for (key, verdict) in tx.signature_verdicts() {
        if let Err(reason) = verdict {
            eprintln!("warning: the signature of {key} does not verify: {reason}");
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// One line per field of the action, nested values as compact JSON.
fn action_lines(tx: &SignedTx) -> Vec<String> {
    let value = serde_json::to_value(&tx.body.action).unwrap_or_default();
    let mut lines = Vec::new();
    if let Some(fields) = value.as_object() {
        for (name, field) in fields {
            if name == "type" {
                continue;
            }
            let shown = match field {
                serde_json::Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            lines.push(format!("  {name}: {shown}"));
        }
    }
    lines
}

fn show(path: &Path, as_json: bool, suite: Option<Suite>) -> anyhow::Result<ExitCode> {
    let tx = read_tx_file(path)?;
    // The id is the suite's hash of the body: the suite asked for, else the one the
    // signers' keys imply (a signer of another suite is then a problem shown below).
    let suite = suite.or(tx.signers_suite()).unwrap_or_default();
    let id = tx.id(suite);
    let verdicts = tx.signature_verdicts();
    let all_valid = verdicts.iter().all(|(_, v)| v.is_ok());
    // The whole-transaction checks beyond each signature's verdict (a key twice, too
    // many); the chain id cannot be judged without a genesis, and an unsigned file is not
    // a fault.
    let problem = match tx.verify_signatures(&tx.body.chain_id, suite) {
        Ok(_) | Err(TxError::Unsigned | TxError::BadSignature { .. }) => None,
        Err(error) => Some(error.to_string()),
    };
    let sound = all_valid && problem.is_none();
    if as_json {
        let signatures: Vec<_> = verdicts
            .iter()
            .map(|(key, verdict)| {
                json!({
                    "public_key": key.to_string(),
                    "valid": verdict.is_ok(),
                    "error": verdict.err().map(|e| e.to_string()),
                })
            })
            .collect();
        let report = json!({
            "file": path.display().to_string(),
            "tx_id": id.to_hex(),
            "crypto_suite": suite.as_str(),
            "chain_id": tx.body.chain_id.as_str(),
            "nonce": tx.body.nonce,
            "expires_at_height": tx.body.expires_at_height,
            "action_type": tx.body.action.type_name(),
            "action": serde_json::to_value(&tx.body.action)?,
            "signatures": signatures,
            "all_valid": all_valid,
            "problem": problem,
        });
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        println!("action: {}", tx.body.action.type_name());
        for line in action_lines(&tx) {
            println!("{line}");
        }
        println!("chain: {}", tx.body.chain_id);
        println!("nonce: {}", tx.body.nonce);
        println!("expires at height: {}", tx.body.expires_at_height);
        println!("tx id: {id} ({suite})");
        if verdicts.is_empty() {
            println!("signatures: none");
        } else {
            println!("signatures:");
            for (key, verdict) in &verdicts {
                match verdict {
                    Ok(()) => println!("  {key}  valid"),
                    Err(reason) => println!("  {key}  INVALID ({reason})"),
                }
            }
        }
        if let Some(problem) = &problem {
            println!("problem: {problem}");
        }
    }
    if sound {
        Ok(ExitCode::SUCCESS)
    } else {
        Ok(ExitCode::from(EXIT_INVALID_SIGNATURE))
    }
}
