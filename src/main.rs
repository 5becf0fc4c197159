//! The `ferrobill` binary: parses the command line, loads the configuration, sets up logging,
//! and runs the server until SIGTERM or SIGINT. Everything else lives in the library.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Parser, Subcommand};
use ferrobill::app::{self, App};
use ferrobill::config::{Config, LogFormat};
use tracing_subscriber::EnvFilter;

#[derive(Parser)]
#[command(version, about = "A Kill Bill-compatible billing server on PostgreSQL")]
struct Cli {
    /// Properties file (Kill Bill property names). Default: config/ferrobill.properties when
    /// present, or the file named by org.killbill.server.properties.
    #[arg(long, global = true)]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Run the server (the default).
    Serve,
    /// Apply pending database migrations and exit.
    Migrate,
    /// Print the effective configuration (secrets masked) and exit.
    PrintConfig,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let loaded = match Config::load(cli.config.as_deref()) {
        Ok(loaded) => loaded,
        Err(error) => {
            // One line, naming the property, the value and what was expected.
            eprintln!("ferrobill: {error}");
            return ExitCode::from(2);
        }
    };
    init_logging(loaded.config.log_format);
    loaded.log();
    match run(cli.command.unwrap_or(Command::Serve), loaded.config) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("ferrobill: {error:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(command: Command, config: Config) -> anyhow::Result<()> {
    if let Command::PrintConfig = command {
        for (name, value) in config.effective_properties() {
            println!("{name}={value}");
        }
        return Ok(());
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(async move {
        match command {
            Command::Migrate => app::migrate_only(&config).await.context("migration failed"),
            _ => {
                let stop = shutdown_signal();
                let app = App::start(config).await.context("startup failed")?;
                app.run_until(stop).await.context("shutdown failed")
            }
        }
    })
}

/// Resolves on SIGINT or SIGTERM. The handlers are registered when this is called, not when
/// the future is first polled: the server answers requests before `run_until` polls it, and a
/// SIGTERM in between (an orchestrator stopping a pod right after its first health check) used
/// to kill the process with the signal's default action, leaving the embedded cluster behind.
fn shutdown_signal() -> impl std::future::Future<Output = ()> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        let interrupt = signal(SignalKind::interrupt());
        let terminate = signal(SignalKind::terminate());
        async move {
            match (interrupt, terminate) {
                (Ok(mut interrupt), Ok(mut terminate)) => {
                    tokio::select! {
                        _ = interrupt.recv() => {}
                        _ = terminate.recv() => {}
                    }
                }
                (_, Err(error)) | (Err(error), _) => {
                    tracing::warn!(%error, "cannot listen for SIGTERM or SIGINT; waiting for Ctrl-C");
                    let _ = tokio::signal::ctrl_c().await;
                }
            }
        }
    }
    #[cfg(not(unix))]
    {
        async {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}

fn init_logging(format: LogFormat) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let colour = std::io::IsTerminal::is_terminal(&std::io::stdout());
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(colour);
    match format {
        LogFormat::Json => builder.json().init(),
        LogFormat::Text => builder.init(),
    }
}
