//! `xinbao`: the command-line interface of the xinbao consortium ledger.
//!
//! This file holds only the top-level command list and the dispatch. Each command group
//! lives in its own module (`keys`, `tx`, …) with its own clap definition and `run`; adding
//! a group means one module and one variant here. Errors surface here, once, as
//! `error: …` on standard error with exit status 2; a command that ran but found a fault
//! (a signature that does not verify) chooses its own non-zero status.

use std::process::ExitCode;

use clap::{Parser, Subcommand};
use cli::{
    audit, bench, ceremony, chain, demo, devnet, events, keys, mirror, query, scenario, stress,
    tls, tx,
};

/// xinbao: a permissioned ledger for government, bank and insurer risk sharing.
#[derive(Debug, Parser)]
#[command(name = "xinbao", version, propagate_version = true)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Check a chain or one settlement with nothing but the genesis file.
    #[command(subcommand)]
    Audit(audit::AuditCommand),
    /// Copy a node's committed chain into a chain file.
    #[command(subcommand)]
    Chain(chain::ChainCommand),
    /// Create and show ed25519 keys.
    #[command(subcommand)]
    Keys(keys::KeysCommand),
    /// An organisation's part of founding a consortium: its keys, node configuration and
    /// public member file.
    #[command(subcommand)]
    Member(ceremony::MemberCommand),
    /// Assemble a genesis from member files, approve it, check who has approved.
    #[command(subcommand)]
    Genesis(ceremony::GenesisCommand),
    /// Sign and inspect transaction files.
    #[command(subcommand)]
    Tx(tx::TxCommand),
    /// Run a scenario file (DOMAIN.md R10): offline, or through a devnet with --node.
    #[command(subcommand)]
    Scenario(scenario::ScenarioCommand),
    /// Ask a node: status, a transaction, a block, the state.
    Query(query::QueryArgs),
    /// Follow a node's event feed (one event per committed transaction and block) and
    /// print each as a JSON line; resumes where it stopped after a disconnect.
    Events(events::EventsArgs),
    /// Mirror the ledger into PostgreSQL, each block verified and written in one SQL
    /// transaction; `mirror check` reconciles the database with the node's figures.
    Mirror(mirror::MirrorArgs),
    /// A consortium of validators on this machine: init, up.
    #[command(subcommand)]
    Devnet(devnet::DevnetCommand),
    /// Start a devnet, replay the worked examples through it, and check every validator
    /// and the offline rulebook agree.
    Demo(demo::DemoArgs),
    /// Measure a 4-validator devnet on this machine: tx/s, commit latency, memory.
    Bench(bench::BenchArgs),
    /// A programme's risk before it is signed: thousands of seeded default paths of a
    /// model (docs/STRESS.md) through the real rulebook, each party's loss distribution,
    /// the odds that the fund's cap binds and that the programme is suspended.
    Stress(stress::StressArgs),
    /// An organisation's certificates for its node's HTTPS API: a CA, the server's
    /// certificate, a client certificate per role.
    #[command(subcommand)]
    Tls(tls::TlsCommand),
}

/// mimalloc: the commands that run the rulebook on memory (scenarios, `stress`, the audit)
/// allocate and free small records at a high rate, which it serves faster than the
/// platform's allocator.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Exit status for an error that stopped the command (bad arguments, unreadable files).
const EXIT_ERROR: u8 = 2;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Audit(command) => audit::run(command),
        Command::Chain(command) => chain::run(command),
        Command::Keys(command) => keys::run(command),
        Command::Member(command) => ceremony::run_member(command),
        Command::Genesis(command) => ceremony::run_genesis(command),
        Command::Tx(command) => tx::run(command),
        Command::Scenario(command) => scenario::run(command),
        Command::Query(args) => query::run(args),
        Command::Events(args) => events::run(args),
        Command::Mirror(args) => mirror::run(args),
        Command::Devnet(command) => devnet::run(command),
        Command::Demo(args) => demo::run(args),
        Command::Bench(args) => bench::run(args),
        Command::Stress(args) => stress::run(args),
        Command::Tls(command) => tls::run(command),
    };
    match result {
        Ok(code) => code,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::from(EXIT_ERROR)
        }
    }
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    /// Every command's options are well formed (no two named alike, every `requires`
    /// names an option): clap's own checks, which otherwise run only when the command is.
    #[test]
    fn every_command_is_well_formed() {
        super::Cli::command().debug_assert();
    }
}
