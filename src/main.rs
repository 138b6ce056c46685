//! The `lakepass` binary: parse arguments, run one command, map the result to an exit code.

use clap::Parser;
use lakepass::aws::Connect;
use lakepass::cli::{Cli, Command};
use lakepass::commands::{self, Global, ProvisionOpts, TeardownOpts};
use std::time::Duration;

fn main() {
    // Usage errors exit 1: 2 means "changes planned" under --detailed-exitcode.
    let cli = Cli::try_parse().unwrap_or_else(|e| {
        let code = if e.use_stderr() { 1 } else { 0 };
        let _ = e.print();
        std::process::exit(code);
    });
    init_logging(cli.verbose);
    let propagation = std::env::var("LAKEPASS_PROPAGATION_TIMEOUT_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .map(Duration::from_secs)
        .unwrap_or(Duration::from_secs(120));
    let global = Global {
        config: cli.config.clone(),
        deployment: cli.deployment.clone(),
        connect: Connect { profile: cli.profile.clone(), region: cli.region.clone() },
        stack_file: cli.stack_file.clone(),
        propagation,
    };
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("tokio runtime");
    let result = runtime.block_on(async {
        let result = match cli.command {
            Command::Provision(a) => {
                let opts = ProvisionOpts {
                    plan_only: a.plan,
                    json: a.json,
                    detailed_exitcode: a.detailed_exitcode,
                    yes: a.yes,
                    adopt: a.adopt,
                    secret_file: a.secret_file,
                    replace_secret_file: a.replace_secret_file,
                    overwrite_profile: a.overwrite_profile,
                    force: a.force,
                };
                commands::provision(&global, &opts).await
            }
            Command::Teardown(a) => {
                commands::teardown(
                    &global,
                    &TeardownOpts {
                        plan_only: a.plan,
                        yes: a.yes,
                        adopt: a.adopt,
                        detach_foreign: a.detach_foreign,
                        force: a.force,
                    },
                )
                .await
            }
            Command::RotateKey(a) => {
                let opts = commands::RotateOpts {
                    finish: a.finish,
                    yes: a.yes,
                    secret_file: a.secret_file,
                    replace_secret_file: a.replace_secret_file,
                };
                commands::rotate_key(&global, &opts).await
            }
            Command::Verify(a) => commands::verify(&global, &commands::VerifyOpts { json: a.json }).await,
            Command::Status(a) => {
                commands::status(
                    &global,
                    &commands::StatusOpts { json: a.json, detailed_exitcode: a.detailed_exitcode },
                )
                .await
            }
            Command::Wizard(a) => {
                let opts = lakepass::wizard::WizardOpts {
                    stack: a.stack,
                    answers: a.answers,
                    yes: a.yes,
                    secret_file: a.secret_file,
                    replace_secret_file: a.replace_secret_file,
                    adopt: a.adopt,
                    overwrite_profile: a.overwrite_profile,
                };
                lakepass::wizard::wizard(&global, &opts).await
            }
            Command::Stacks(a) => {
                let show = a.command.as_ref().map(|lakepass::cli::StacksCommand::Show { name }| name.as_str());
                commands::stacks(&global, show)
            }
            Command::Export(a) => {
                commands::export(&global, &commands::ExportOpts { output: a.output, upload: a.upload }).await
            }
            Command::Profile => commands::profile(&global).await,
            Command::Completions { shell } => {
                let mut out = Vec::new();
                clap_complete::generate(shell, &mut <Cli as clap::CommandFactory>::command(), "lakepass", &mut out);
                lakepass::output::print(&String::from_utf8_lossy(&out));
                Ok(0)
            }
        };
        // However the command ended, the team's state locks it took go.
        lakepass::state::release_all().await;
        result
    });
    match result {
        Ok(code) => std::process::exit(code),
        Err(e) => {
            lakepass::output::error(&e.to_string(), e.hint().as_deref());
            std::process::exit(1);
        }
    }
}

fn init_logging(verbose: u8) {
    use tracing_subscriber::filter::{LevelFilter, Targets};
    use tracing_subscriber::prelude::*;
    if verbose == 0 {
        return;
    }
    // The SDK never logs above INFO here: bodies (which may hold a new secret) only
    // appear at TRACE.
    let sdk = if verbose > 1 { LevelFilter::INFO } else { LevelFilter::WARN };
    let filter = Targets::new().with_target("lakepass", LevelFilter::DEBUG).with_default(sdk);
    tracing_subscriber::registry()
        .with(
            tracing_subscriber::fmt::layer()
                .with_writer(std::io::stderr)
                .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr())),
        )
        .with(filter)
        .init();
}
