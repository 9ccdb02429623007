//! `stagecraft show vN`
//!
//! I/O: the terminal (through `Ui`), and the repository or a daemon's API through `ops` or `client`.

use super::Context;
use super::ui::Ui;
use crate::error::Error;
use crate::model::Version;
use crate::ops::show::show;

/// Show one version: who published it and when, its description and summary, where it is deployed and on hold
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The version, e.g. v3
    version: Version,
}

pub fn run(args: Args, context: &Context, ui: &Ui) -> Result<u8, Error> {
    let info = match context.client()? {
        Some(client) => client.get(&format!("/v1/versions/{}", args.version))?,
        None => show(&context.open_store()?, args.version)?,
    };
    ui.json(&info);
    let mut out = format!("v{} ({})\npublished by {} at {}\n", info.version, &info.commit[..7], info.actor, info.time);
    if let Some(description) = &info.description {
        out.push_str(&format!("\n{}\n\n", description.trim()));
    }
    if let Some(summary) = &info.summary {
        out.push_str(&format!("summary: {summary}\n"));
    }
    let list = |envs: &[String]| if envs.is_empty() { "nowhere".to_string() } else { envs.join(", ") };
    out.push_str(&format!("deployed now: {}\n", list(&info.deployed)));
    if !info.on_hold.is_empty() {
        out.push_str(&format!("on hold in: {}\n", info.on_hold.join(", ")));
    }
    if let Some(tests) = &info.tests {
        out.push_str(&format!("{tests}\n"));
    }
    ui.text(&out);
    Ok(0)
}
