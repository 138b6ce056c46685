//! Command-line arguments (clap). Nothing below this layer knows clap exists.

use clap::{Args, Parser, Subcommand};
use std::path::PathBuf;

#[derive(Debug, Parser)]
#[command(
    name = "lakepass",
    version,
    about = "Least-privilege AWS Glue Data Catalog access for data tools: planned, applied, torn down cleanly",
    after_help = "Exit codes: 0 success (with --detailed-exitcode: no changes), 1 error, 2 changes planned or drift found (--detailed-exitcode), 3 a verification check failed (verify)."
)]
pub struct Cli {
    /// The project config.
    #[arg(long, global = true, help_heading = "Global options", value_name = "PATH", default_value = crate::config::DEFAULT_PATH)]
    pub config: PathBuf,

    /// The deployment to act on (may be left out when the config holds only one).
    #[arg(long, short = 'd', global = true, help_heading = "Global options", value_name = "NAME")]
    pub deployment: Option<String>,

    /// AWS profile to use instead of the credential chain's default.
    #[arg(long, global = true, help_heading = "Global options", value_name = "NAME")]
    pub profile: Option<String>,

    /// AWS region, overriding the deployment's and the AWS config's.
    #[arg(long, global = true, help_heading = "Global options", value_name = "REGION")]
    pub region: Option<String>,

    /// Use a stack from this file instead of the shipped one the deployment names.
    #[arg(long, global = true, help_heading = "Global options", value_name = "PATH")]
    pub stack_file: Option<PathBuf>,

    /// Log what lakepass does to stderr (-v: lakepass, -vv: also the AWS SDK).
    #[arg(short, long, global = true, help_heading = "Global options", action = clap::ArgAction::Count)]
    pub verbose: u8,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Set up an integration step by step: asks, checks, plans, applies, hands over.
    #[command(
        after_help = "Examples:\n  lakepass wizard                               ask, plan, and apply on yes\n  lakepass wizard --stack STACK                 set up one integration (lakepass stacks lists them)\n  lakepass wizard -d NAME                       a deployment of another name (a second one of a stack)\n  lakepass wizard --answers answers.yaml        no questions: check, save, show the plan\n  lakepass wizard --answers answers.yaml --yes  ... and apply it"
    )]
    Wizard(WizardArgs),
    /// Plan (--plan) or apply a deployment: create or update what it needs.
    #[command(
        after_help = "Examples:\n  lakepass provision --plan                     what would change; changes nothing\n  lakepass provision --plan --json              the same, for a machine\n  lakepass provision                            apply (asks first)\n  lakepass provision -d NAME --yes              one deployment, without asking\n  lakepass provision --secret-file key.txt      a new key's secret to a 0600 file only"
    )]
    Provision(ProvisionArgs),
    /// Remove exactly what lakepass created for a deployment, then its state.
    #[command(
        after_help = "Examples:\n  lakepass teardown --plan                      what would be removed\n  lakepass teardown                             remove it (asks first)\n  lakepass teardown --adopt                     also what a lost state no longer records"
    )]
    Teardown(TeardownArgs),
    /// Give a user deployment a new access key while the old one keeps working; delete
    /// the old one once the vendor has switched (--finish).
    #[command(
        after_help = "Examples:\n  lakepass rotate-key                           a new key beside the live one\n  lakepass rotate-key --finish                  delete the previous key once the vendor uses the new one"
    )]
    RotateKey(RotateKeyArgs),
    /// Show, per deployment, what exists, what drifted and what is missing.
    #[command(
        after_help = "Examples:\n  lakepass status                               every deployment\n  lakepass status --detailed-exitcode           exit 2 when anything is not in order (for cron or CI)"
    )]
    Status(StatusArgs),
    /// Prove the vendor can make every call it needs and none it must not (IAM, Lake
    /// Formation, S3, KMS, Athena); exit 3 when a check fails.
    #[command(
        after_help = "Examples:\n  lakepass verify                               every deployment\n  lakepass verify -d NAME --json                one, for a machine"
    )]
    Verify(VerifyArgs),
    /// List the stacks a project can use (its own in stacks/ beside the config, and the
    /// shipped ones), or show one.
    #[command(
        after_help = "Examples:\n  lakepass stacks                               list them\n  lakepass stacks show STACK                    what it asks, builds and does not grant"
    )]
    Stacks(StacksArgs),
    /// Write a deployment as a CloudFormation template of exactly what `provision` would
    /// build (policies, role, attachments, Lake Formation grants); changes nothing in IAM or
    /// Lake Formation.
    #[command(
        after_help = "Examples:\n  lakepass export -d NAME                       print the template\n  lakepass export -d NAME --output stack.json   write it to a file\n  lakepass export -d NAME --upload s3://acme-platform/cfn/\n                                                put it in S3, print the console's launch link"
    )]
    Export(ExportArgs),
    /// Print the profiles-file target a deployment writes (stacks with a profile_file).
    #[command(
        after_help = "Examples:\n  lakepass profile -d NAME                      print the deployment's profiles-file target"
    )]
    Profile,
    /// Print a shell completion script (bash, zsh or fish), e.g. `lakepass completions bash >
    /// ~/.local/share/bash-completion/completions/lakepass`.
    Completions {
        /// The shell.
        shell: clap_complete::Shell,
    },
}

#[derive(Debug, Args)]
pub struct ExportArgs {
    /// The template's format.
    #[arg(long, value_enum, default_value_t = ExportFormat::Cloudformation)]
    pub format: ExportFormat,

    /// Write the template to this file (replaced if it exists) rather than to stdout.
    #[arg(long, value_name = "FILE")]
    pub output: Option<PathBuf>,

    /// Put the template in S3 and print the console's quick-create ("Launch Stack") link
    /// with the parameters filled in. A key ending in / gets lakepass-NAME.json. An object
    /// there is replaced only if this deployment's export put it.
    #[arg(long, value_name = "s3://BUCKET/KEY")]
    pub upload: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ExportFormat {
    /// A CloudFormation template (JSON).
    Cloudformation,
}

#[derive(Debug, Args)]
pub struct ProvisionArgs {
    /// Only show what would change; change nothing.
    #[arg(long)]
    pub plan: bool,

    /// Print the plan as JSON (with --plan).
    #[arg(long, requires = "plan")]
    pub json: bool,

    /// With --plan: exit 0 when there are no changes, 2 when there are, 1 on error.
    #[arg(long, requires = "plan")]
    pub detailed_exitcode: bool,

    /// Apply without asking for confirmation.
    #[arg(long, short = 'y')]
    pub yes: bool,

    /// Take over existing IAM resources with the target names that lakepass did not
    /// create. lakepass then manages them, and teardown deletes them.
    #[arg(long)]
    pub adopt: bool,

    /// Write a new access key's secret only to this new file (mode 0600), not to stdout.
    #[arg(long, value_name = "PATH")]
    pub secret_file: Option<PathBuf>,

    /// Replace the --secret-file if it exists (a symbolic link is always refused).
    #[arg(long, requires = "secret_file")]
    pub replace_secret_file: bool,

    /// Replace a profiles.yml target that lakepass did not write (a backup is kept).
    #[arg(long)]
    pub overwrite_profile: bool,

    /// Delete a Glue database lakepass created and the deployment no longer wants, even
    /// though it still holds tables (their data in S3 stays).
    #[arg(long)]
    pub force: bool,
}

#[derive(Debug, Args)]
pub struct WizardArgs {
    /// The stack to set up (default: ask).
    #[arg(long, value_name = "NAME")]
    pub stack: Option<String>,

    /// Run without a terminal, with the answers (the deployment's value keys) in this
    /// YAML file. Without --yes it saves the deployment and shows the plan, changing nothing.
    #[arg(long, value_name = "FILE")]
    pub answers: Option<PathBuf>,

    /// With --answers: apply the plan.
    #[arg(long, short = 'y', requires = "answers")]
    pub yes: bool,

    /// Take over existing IAM resources with the target names (see provision --adopt).
    #[arg(long)]
    pub adopt: bool,

    /// Replace a profiles.yml target that lakepass did not write (a backup is kept).
    #[arg(long)]
    pub overwrite_profile: bool,

    /// Write a new access key's secret only to this new file (mode 0600), not to stdout.
    #[arg(long, value_name = "PATH")]
    pub secret_file: Option<PathBuf>,

    /// Replace the --secret-file if it exists (a symbolic link is always refused).
    #[arg(long, requires = "secret_file")]
    pub replace_secret_file: bool,
}

#[derive(Debug, Args)]
pub struct StacksArgs {
    #[command(subcommand)]
    pub command: Option<StacksCommand>,
}

#[derive(Debug, Subcommand)]
pub enum StacksCommand {
    /// What a stack asks, what it builds and attaches for its example values, and what it
    /// deliberately does not grant (with --stack-file, that file's stack).
    Show {
        /// The stack's name.
        name: String,
    },
}

#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// Print one JSON document (every deployment's findings, and any errors).
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct StatusArgs {
    /// Print one JSON document (every deployment, and any errors).
    #[arg(long)]
    pub json: bool,

    /// Exit 0 when everything is as the deployments want, 2 when anything drifted, is
    /// missing or is still to create or remove, 1 on error.
    #[arg(long)]
    pub detailed_exitcode: bool,
}

#[derive(Debug, Args)]
pub struct RotateKeyArgs {
    /// Delete the previous key of a rotation under way: the vendor uses the new one.
    #[arg(long)]
    pub finish: bool,

    /// Go ahead without asking (never deletes the previous key without --finish).
    #[arg(long, short = 'y')]
    pub yes: bool,

    /// Write the new key's secret only to this new file (mode 0600), not to stdout.
    #[arg(long, value_name = "PATH", conflicts_with = "finish")]
    pub secret_file: Option<PathBuf>,

    /// Replace the --secret-file if it exists (a symbolic link is always refused).
    #[arg(long, requires = "secret_file")]
    pub replace_secret_file: bool,
}

#[derive(Debug, Args)]
pub struct TeardownArgs {
    /// Only show what would be removed.
    #[arg(long)]
    pub plan: bool,

    /// Remove without asking for confirmation.
    #[arg(long, short = 'y')]
    pub yes: bool,

    /// Also remove resources that carry this deployment's ownership tag but that no state
    /// records (after the state was lost).
    #[arg(long)]
    pub adopt: bool,

    /// Detach policies others attached to the role or user (and delete its inline
    /// policies) so that it can be deleted; without this, teardown stops and names them.
    #[arg(long)]
    pub detach_foreign: bool,

    /// Delete a Glue database lakepass created even though it still holds tables (their
    /// data in S3 stays); without this, teardown stops and names them.
    #[arg(long)]
    pub force: bool,
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_is_well_formed() {
        Cli::command().debug_assert();
    }

    #[test]
    fn json_requires_plan() {
        assert!(Cli::try_parse_from(["lakepass", "provision", "--json"]).is_err());
        assert!(Cli::try_parse_from(["lakepass", "provision", "--plan", "--json", "-d", "x"]).is_ok());
    }
}
