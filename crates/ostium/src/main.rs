//! `ostium`: the Ostium identity server binary.
//!
//! - `ostium serve --config FILE` serves a node; `ostium serve --dev` serves a
//!   ready-to-try single node with a demo API, client and user.
//! - `ostium check-config FILE` validates a configuration without serving;
//!   `ostium reload --config FILE` checks it and has the running node re-read it
//!   (as `SIGHUP` does).
//! - `ostium hash-secret` and `ostium hash-password` print the values that go into
//!   the configuration file instead of plain-text secrets.

/// Less memory than glibc's malloc for the state's page buffers, with no
/// `MALLOC_ARENA_MAX` to set (docs/architecture.md §11).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Keeps the process's memory in small pages. mimalloc asks for transparent huge
/// pages for its arenas, and a 2 MB page stays resident while any of its bytes is
/// in use: with them a core holding a million families peaked some 50 MB higher,
/// no faster (docs/architecture.md §11). A kernel that refuses is left as it is.
fn without_huge_pages() {
    #[cfg(target_os = "linux")]
    let _ = rustix::thread::disable_transparent_huge_pages(true);
}

mod dev;
mod log_limit;
mod pid_file;
mod telemetry;

use std::io::{BufRead, IsTerminal};
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, bail};
use clap::{Parser, Subcommand};
use ostium_server::{Config, SecretPolicy, Server};

#[derive(Parser)]
#[command(
    name = "ostium",
    version,
    about = "OAuth 2.0 / OpenID Connect identity server"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serve a node.
    Serve {
        /// The configuration file.
        #[arg(long, short, required_unless_present = "dev")]
        config: Option<PathBuf>,
        /// Development mode: without --config, a built-in single-node setup on
        /// 127.0.0.1:8080; plain-text secrets are accepted (with a warning).
        #[arg(long)]
        dev: bool,
    },
    /// Check a configuration file, then have the node running with it re-read it
    /// (as `SIGHUP` does): clients, scopes, resources and users change at once;
    /// other settings need a restart. Waits until the node serves the file's clients.
    Reload {
        /// The configuration file the node was started with.
        #[arg(long, short)]
        config: PathBuf,
        /// Check as `serve --dev --config` would: plain-text secrets are accepted.
        #[arg(long)]
        dev: bool,
    },
    /// Validate a configuration file and exit.
    CheckConfig {
        /// The configuration file.
        file: PathBuf,
        /// Check as `serve --dev --config` would: plain-text secrets are accepted.
        #[arg(long)]
        dev: bool,
    },
    /// Print the `sha256:` digest of a client or API secret, for `client_secrets`
    /// and `api_secrets`. Reads the secret from standard input if not given.
    HashSecret { secret: Option<String> },
    /// Ask the cluster, through the nodes a configuration file names.
    Cluster {
        #[command(subcommand)]
        command: ClusterCommand,
        /// The configuration file of the node to ask.
        #[arg(long, short, global = true)]
        config: Option<PathBuf>,
    },
    /// Act on issued tokens, through the node a configuration file describes.
    Tokens {
        #[command(subcommand)]
        command: TokensCommand,
        /// The configuration file of the node to ask.
        #[arg(long, short, global = true)]
        config: Option<PathBuf>,
    },
    /// List, rotate or withdraw the cluster's signing keys, through the nodes a
    /// configuration file names.
    Keys {
        #[command(subcommand)]
        command: KeysCommand,
        /// The configuration file of the node to ask.
        #[arg(long, short, global = true)]
        config: Option<PathBuf>,
    },
    /// Print the Argon2id PHC string of a user password, for `password_hash`.
    /// Reads the password from standard input if not given.
    HashPassword { password: Option<String> },
}

#[derive(Subcommand)]
enum TokensCommand {
    /// Revoke every refresh token of a user or a client, on every node: their
    /// refresh tokens can no longer be redeemed, and the access tokens issued with
    /// them are no longer active at introspection.
    Revoke {
        /// The user's subject (`[[users]] subject`).
        #[arg(long, conflicts_with = "client", required_unless_present = "client")]
        subject: Option<String>,
        /// The client's `client_id`.
        #[arg(long)]
        client: Option<String>,
    },
}

#[derive(Subcommand)]
enum KeysCommand {
    /// Every key with its state (next, signing, retiring, retired, withdrawn,
    /// published) and times (seconds since the Unix epoch), as JSON.
    List,
    /// Add the next key now: published at once, signing after `[signing]
    /// publish_ahead`.
    Rotate {
        /// Sign with it at once, without waiting for relying parties to fetch it
        /// (their cached JWKS will not know it yet).
        #[arg(long)]
        now: bool,
    },
    /// Withdraw a key (compromised): it leaves the JWKS, and neither signs nor
    /// verifies any more, on every node at once. If it was signing, the next key
    /// takes over, or a new one.
    Withdraw {
        /// The key's `kid`. A kid is base64url, so it may begin with `-`: taken as
        /// the kid, not as an option.
        #[arg(allow_hyphen_values = true)]
        kid: String,
    },
}

#[derive(Subcommand)]
enum ClusterCommand {
    /// Ask every node the file names for its view of the cluster; print them as JSON.
    Status,
    /// Add a node as a learner: it receives the log but does not vote yet.
    AddLearner {
        /// The new node's id.
        #[arg(long)]
        id: u64,
        /// The new node's Raft address (host:port), as the other nodes reach it.
        #[arg(long)]
        addr: String,
    },
    /// Make a learner a voting member.
    Promote {
        #[arg(long)]
        id: u64,
    },
    /// Remove a member (it stops voting first, then leaves).
    Remove {
        #[arg(long)]
        id: u64,
    },
}

fn main() -> anyhow::Result<()> {
    without_huge_pages();
    match Cli::parse().command {
        Command::Serve { config, dev } => serve(config, dev),
        Command::Reload { config, dev } => reload(&config, dev),
        Command::CheckConfig { file, dev } => {
            let config = Config::load(&file, secret_policy(dev))?;
            let clients = counted(config.clients.len(), "client");
            let users = counted(config.users.len(), "user");
            for warning in Server::builder(config)?.warnings() {
                eprintln!("warning: {warning}");
            }
            println!("{}: ok ({clients}, {users})", file.display());
            Ok(())
        }
        Command::Cluster { command, config } => {
            let file = config.context("--config FILE is required: the node to ask")?;
            cluster(&Config::load(&file, SecretPolicy::AllowPlainText)?, command)
        }
        Command::Keys { command, config } => {
            let file = config.context("--config FILE is required: the node to ask")?;
            keys(&Config::load(&file, SecretPolicy::AllowPlainText)?, command)
        }
        Command::Tokens { command, config } => {
            let file = config.context("--config FILE is required: the node to ask")?;
            tokens(&Config::load(&file, SecretPolicy::AllowPlainText)?, command)
        }
        Command::HashSecret { secret } => {
            let secret = argument_or_stdin(secret, "secret")?;
            println!("{}", ostium_protocol::SecretDigest::of(&secret));
            Ok(())
        }
        Command::HashPassword { password } => {
            let password = argument_or_stdin(password, "password")?;
            println!(
                "{}",
                ostium_grants::password_validator::hash_password(&password)?
            );
            Ok(())
        }
    }
}

/// The configuration in `file`, as `serve` (with `--dev` or not) reads it.
fn load(file: &Path, dev: bool) -> anyhow::Result<Config> {
    let mut config = Config::load(file, secret_policy(dev))?;
    if let (true, Some(cache)) = (dev, config.cache.as_mut()) {
        // Trying Ostium out against whatever Redis is at hand: warned, not refused.
        cache.tolerate_eviction = true;
    }
    Ok(config)
}

fn serve(config_file: Option<PathBuf>, dev: bool) -> anyhow::Result<()> {
    // Listening for SIGHUP from the start: one that arrives while the node starts
    // (waiting for its cluster, say) is served once it runs, rather than
    // terminating it. The pid file that `ostium reload` reads is written later.
    let system = actix_web::rt::System::new();
    let hangups = system.block_on(async { hangups() })?;
    let config = match &config_file {
        Some(file) => load(file, dev)?,
        None => dev::config()?,
    };
    let telemetry = telemetry::init(&node_identity(&config))?;
    let data_dir = config.server.data_dir.clone();
    let issuer = config.server.issuer.clone();
    let mut builder = Server::builder(config)?.with_request_spans(telemetry.exporting_traces());
    if let Some(meter) = telemetry.meter() {
        builder = builder.with_meter(meter);
    }
    if dev && config_file.is_none() {
        builder = builder.with_dev_callback(dev::callback());
    }
    for warning in builder.warnings() {
        tracing::warn!("{warning}");
    }
    let server = builder.build()?;
    if dev && config_file.is_none() {
        dev::print_banner(&issuer);
    }
    let result = system.block_on(async {
        let _pid_file = pid_file::PidFile::create(&data_dir)?;
        tokio::select! {
            result = server.run(shutdown_signal()) => result.context("server stopped with an error"),
            never = reload_on_hangup(&server, hangups, config_file.as_deref(), dev) => match never {},
        }
    });
    server.shutdown();
    telemetry.shutdown();
    result
}

/// `SIGHUP`, listened for.
fn hangups() -> anyhow::Result<tokio::signal::unix::Signal> {
    use tokio::signal::unix::{SignalKind, signal};
    signal(SignalKind::hangup()).context("cannot listen for SIGHUP")
}

/// Re-reads `file` on every `SIGHUP` for as long as the node serves; without a
/// file (`serve --dev`), says there is nothing to re-read.
async fn reload_on_hangup(
    server: &Server,
    mut hangups: tokio::signal::unix::Signal,
    file: Option<&Path>,
    dev: bool,
) -> std::convert::Infallible {
    while hangups.recv().await.is_some() {
        match file {
            Some(file) => reload_from(server, file, dev),
            None => tracing::warn!("SIGHUP: serve --dev without --config has no file to re-read"),
        }
    }
    std::future::pending().await
}

/// Reloads `file` into the running `server`, or keeps what runs and says why.
fn reload_from(server: &Server, file: &Path, dev: bool) {
    let config = match load(file, dev) {
        Ok(config) => config,
        Err(e) => {
            tracing::error!(file = %file.display(), error = %format!("{e:#}"), "configuration not reloaded: the running configuration is kept");
            return;
        }
    };
    for warning in &config.warnings {
        tracing::warn!("{warning}");
    }
    match server.reload(&config) {
        Ok(reloaded) => {
            tracing::info!(
                file = %file.display(),
                configuration = %reloaded.fingerprint,
                clients = config.clients.len(),
                users = config.users.len(),
                clients_removed = ?reloaded.clients_removed,
                users_removed = ?reloaded.users_removed,
                "configuration reloaded"
            );
            if !reloaded.needs_restart.is_empty() {
                tracing::warn!(sections = ?reloaded.needs_restart, "changed settings take effect only after a restart");
            }
        }
        Err(e) => {
            tracing::error!(file = %file.display(), error = %format!("{:#}", anyhow::Error::from(e)), "configuration not reloaded: the running configuration is kept");
        }
    }
}

/// `ostium reload`: checks `file` as the node will, signals the node, and waits
/// until the node reports the file's client configuration.
fn reload(file: &Path, dev: bool) -> anyhow::Result<()> {
    let config = load(file, dev)?;
    let expected = config.fingerprint();
    let data_dir = config.server.data_dir.clone();
    let admin = node_admin(&config)?;
    let builder = Server::builder(config)?;
    for warning in builder.warnings() {
        eprintln!("warning: {warning}");
    }
    let pid = pid_file::signal_reload(&data_dir)?;
    let Some((admin, node)) = admin else {
        println!(
            "asked the edge node (process {pid}) to reload {}; its /readyz names the \
             configuration it serves: expected {expected}",
            file.display()
        );
        return Ok(());
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let served = runtime.block_on(async {
        let deadline = tokio::time::Instant::now() + RELOAD_WAIT;
        loop {
            // A node that does not answer is given no longer than what is left.
            let served = tokio::time::timeout_at(deadline, admin.view_of(node))
                .await
                .ok()
                .flatten()
                .and_then(|view| view.configuration);
            if served.as_deref() == Some(expected.as_str())
                || tokio::time::Instant::now() >= deadline
            {
                return served;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    });
    if served.as_deref() != Some(expected.as_str()) {
        bail!(
            "node {node} (process {pid}) still serves configuration {} instead of \
             {expected}: its log says why",
            served.as_deref().unwrap_or("(it did not answer)")
        );
    }
    println!("reloaded {}: configuration {expected}", file.display());
    Ok(())
}

/// How long `ostium reload` waits for the node to serve the new configuration: a
/// reload takes milliseconds, unless a user's password hash is refused.
const RELOAD_WAIT: Duration = Duration::from_secs(10);

/// Who to ask whether a core (or a node without `[cluster]`) serves a
/// configuration: `None` for an edge, which does not answer cluster requests.
fn node_admin(
    config: &Config,
) -> anyhow::Result<Option<(ostium_server::cluster_admin::Admin, u64)>> {
    use ostium_server::config::NodeRole;
    let node = match &config.cluster {
        Some(cluster) if cluster.role == NodeRole::Edge => return Ok(None),
        Some(cluster) => cluster.node_id,
        None => 1,
    };
    let admin = ostium_server::cluster_admin::Admin::for_config(config)?;
    Ok(Some((admin, node)))
}

/// The node id and role the telemetry resource names: a node without `[cluster]` is
/// a cluster of one, node 1, a core.
fn node_identity(config: &Config) -> telemetry::NodeIdentity {
    use ostium_server::config::NodeRole;
    match &config.cluster {
        Some(cluster) => telemetry::NodeIdentity {
            node_id: cluster.node_id,
            role: match cluster.role {
                NodeRole::Core { .. } => "core",
                NodeRole::Edge => "edge",
            },
        },
        None => telemetry::NodeIdentity {
            node_id: 1,
            role: "core",
        },
    }
}

fn cluster(config: &Config, command: ClusterCommand) -> anyhow::Result<()> {
    use ostium_server::cluster_admin::{Admin, Change};
    let admin = Admin::for_config(config)?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let change = match command {
        ClusterCommand::Status => {
            let status = runtime.block_on(admin.status())?;
            println!("{}", serde_json::to_string_pretty(&status)?);
            return Ok(());
        }
        ClusterCommand::AddLearner { id, addr } => Change::AddLearner {
            id,
            raft_addr: addr,
        },
        ClusterCommand::Promote { id } => Change::Promote { id },
        ClusterCommand::Remove { id } => Change::Remove { id },
    };
    runtime.block_on(admin.change(&change))?;
    println!("done: {change:?}");
    Ok(())
}

fn keys(config: &Config, command: KeysCommand) -> anyhow::Result<()> {
    use ostium_server::key_admin::{KeyAdmin, Withdrawn};
    let admin = KeyAdmin::for_config(config)?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    match command {
        KeysCommand::List => {
            let keys = runtime.block_on(admin.list())?;
            println!("{}", serde_json::to_string_pretty(&keys)?);
        }
        KeysCommand::Rotate { now } => {
            let kid = runtime.block_on(admin.rotate(now))?;
            let when = match now {
                true => "signing now".to_owned(),
                false => format!(
                    "published now, signing in {} s",
                    config.key_rotation.publish_ahead
                ),
            };
            println!("added key {kid}: {when}");
        }
        KeysCommand::Withdraw { kid } => match runtime.block_on(admin.withdraw(&kid))? {
            Withdrawn::Withdrawn { kid } => println!("withdrew key {kid}"),
            Withdrawn::NoSuchKey { kid } => bail!("no signing key {kid}"),
        },
    }
    Ok(())
}

fn tokens(config: &Config, command: TokensCommand) -> anyhow::Result<()> {
    use ostium_server::cluster_admin::{Admin, Revocation};
    let TokensCommand::Revoke { subject, client } = command;
    let (revocation, whose) = match (subject, client) {
        (Some(subject), _) => (
            Revocation::Subject(subject.clone()),
            format!("user `{subject}`"),
        ),
        (None, Some(client)) => (
            Revocation::Client(client.clone()),
            format!("client `{client}`"),
        ),
        (None, None) => bail!("give --subject or --client"),
    };
    let admin = Admin::for_config(config)?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let count = runtime.block_on(admin.revoke(&revocation))?;
    println!("revoked {count} refresh token families of {whose}");
    Ok(())
}

/// `1 client`, `2 clients`.
fn counted(n: usize, what: &str) -> String {
    if n == 1 {
        format!("1 {what}")
    } else {
        format!("{n} {what}s")
    }
}

fn secret_policy(dev: bool) -> SecretPolicy {
    if dev {
        SecretPolicy::AllowPlainText
    } else {
        SecretPolicy::DigestsOnly
    }
}

/// Completes on SIGINT or SIGTERM (what Kubernetes sends before killing a pod).
async fn shutdown_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let mut terminate = match signal(SignalKind::terminate()) {
        Ok(s) => s,
        Err(e) => {
            tracing::error!(error = %e, "cannot listen for SIGTERM");
            return std::future::pending().await;
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = terminate.recv() => {}
    }
}

/// Secrets on the command line end up in shell history; standard input does not.
fn argument_or_stdin(value: Option<String>, what: &str) -> anyhow::Result<String> {
    let value = match value {
        Some(v) => v,
        None => {
            if std::io::stdin().is_terminal() {
                eprint!("{what}: ");
            }
            let mut line = String::new();
            std::io::stdin().lock().read_line(&mut line)?;
            line.trim_end_matches(['\r', '\n']).to_owned()
        }
    };
    if value.is_empty() {
        bail!("the {what} must not be empty");
    }
    Ok(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_kid_that_begins_with_a_hyphen_is_a_kid() {
        let kid = "-bE0F2_2iDrJi5s64DJge7FhbJTooX8A3qDzpUmRsc8";
        let cli = Cli::try_parse_from(["ostium", "keys", "withdraw", kid, "--config", "f.toml"])
            .expect("the command parses");
        match cli.command {
            Command::Keys {
                command: KeysCommand::Withdraw { kid: parsed },
                config,
            } => {
                assert_eq!(parsed, kid);
                assert_eq!(config, Some(PathBuf::from("f.toml")));
            }
            _ => panic!("not `keys withdraw`"),
        }
    }
}
