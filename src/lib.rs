//! lakepass gives a data tool least-privilege access to an AWS Glue Data Catalog, and takes
//! it back cleanly.
//!
//! The stages, in the order a run goes through them:
//!
//! - [`config`]: `lakepass.yaml`, the named deployments (a stack and its values).
//! - [`stack`]: stack files (`stacks/*.yaml`), their typed parameters and value checks.
//! - [`render`]: stack + values + account facts → the desired [`model::Resource`]s. Pure.
//! - [`observe`]: what AWS has now, through Get/List calls only.
//! - [`plan`]: (desired, observed, state) → ordered actions with reasons. Pure; owns every
//!   decision, including ownership (tags and state) and teardown order.
//! - [`apply`]: walks the plan's steps against AWS, writing [`state`] after each action.
//! - [`output`]: everything a user reads: results, the run's narrative, warnings and
//!   errors, and the plan as text for people and JSON for machines.
//!
//! [`aws`] builds the SDK clients and turns SDK errors into [`error::Error`]s that name the
//! fix; [`commands`] strings the stages together for each subcommand; [`wizard`] runs the
//! interview flows (`wizard/*.yaml`) in front of them; [`cfn`] writes the desired resources
//! as a CloudFormation template (`lakepass export`); [`cli`] is clap.

pub mod apply;
pub mod arn;
pub mod aws;
pub mod cfn;
pub mod cli;
pub mod commands;
pub mod config;
pub mod error;
pub mod files;
pub mod model;
pub mod observe;
pub mod output;
pub mod plan;
pub mod policy;
pub mod profile;
pub mod render;
pub mod stack;
pub mod state;
pub mod verify;
pub mod wizard;

#[cfg(test)]
mod code_rules;
