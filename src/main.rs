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
                let app = App::start(config).await.context("startup failed")?;
                app.run_until(shutdown_signal())
                    .await
                    .context("shutdown failed")
            }
        }
    })
}

async fn shutdown_signal() {
    let interrupt = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut terminate) => {
                tokio::select! {
                    _ = interrupt => {}
                    _ = terminate.recv() => {}
                }
            }
            Err(error) => {
                tracing::warn!(%error, "cannot listen for SIGTERM; only SIGINT stops the server");
                let _ = interrupt.await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = interrupt.await;
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
