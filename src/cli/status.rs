//! `stagecraft status`
//!
//! I/O: the terminal (through `Ui`), and the repository or a daemon's API through `ops` or `client`.

use super::Context;
use super::ui::Ui;
use crate::error::Error;
use crate::ops;
use crate::wire::Status;

/// Show each environment: current version, commit, who and when, holds, drift; and what a publish would change
#[derive(Debug, clap::Args)]
pub struct Args {}

pub fn run(_args: Args, context: &Context, ui: &Ui) -> Result<u8, Error> {
    // A daemon also knows what its gate holds back (invalid, drift, held) and why.
    let mut held_back = String::new();
    let status = match context.client()? {
        Some(client) => {
            let view: crate::wire::EnvironmentsView = client.get("/v1/environments")?;
            for env in &view.environments {
                if let Some(problem) = &env.problem {
                    held_back.push_str(&format!("not delivered: {problem}\n"));
                }
            }
            Status {
                repository: client.url().to_string(),
                chain: view.chain,
                protected: view.protected,
                environments: view.environments.into_iter().map(|e| e.status).collect(),
                draft: view.draft,
                uncommitted_files: 0,
            }
        }
        None => ops::status(&context.open_store()?)?,
    };
    ui.json(&status);
    ui.text(&format!("{}{held_back}", render(&status)));
    Ok(0)
}

/// A table of environments and the draft's line.
pub fn render(status: &Status) -> String {
    let mut rows = vec![[
        "ENVIRONMENT".to_string(),
        "VERSION".into(),
        "COMMIT".into(),
        "WHEN".into(),
        "BY".into(),
        "HOLDS".into(),
    ]];
    for env in &status.environments {
        let name = if env.protected { format!("{} (protected)", env.name) } else { env.name.clone() };
        let version = match env.version {
            Some(version) => format!("v{version}"),
            None if env.drift => "DRIFT".into(),
            None => "-".into(),
        };
        let holds = env.holds.iter().map(|v| format!("v{v}")).collect::<Vec<_>>().join(" ");
        rows.push([name, version, env.commit[..7].to_string(), env.time.clone(), env.actor.clone(), holds]);
    }
    let show_holds = status.environments.iter().any(|env| !env.holds.is_empty());
    let columns = if show_holds { 6 } else { 5 };
    let widths: Vec<usize> =
        (0..columns).map(|c| rows.iter().map(|row| row[c].chars().count()).max().unwrap_or(0)).collect();
    let mut out = format!("repository {}\n\n", status.repository);
    for row in &rows {
        let cells: Vec<String> = (0..columns).map(|c| format!("{:<width$}", row[c], width = widths[c])).collect();
        out.push_str(cells.join("  ").trim_end());
        out.push('\n');
    }
    for (index, env) in status.environments.iter().enumerate().filter(|(_, env)| env.drift) {
        if index == 1 {
            out.push_str(&format!(
                "\n{} is in drift: its tip matches no version (a merge made outside stagecraft?); the next write, or the daemon, records a valid merge there as the next version\n",
                env.name
            ));
        } else {
            out.push_str(&format!("\n{} is in drift: its tip matches no version and is not delivered\n", env.name));
        }
    }
    out.push_str(&format!("\n{}\n", status.draft.summary));
    if status.uncommitted_files > 0 {
        let files = status.uncommitted_files;
        let (count, verb) = if files == 1 { ("1 file".to_string(), "is") } else { (format!("{files} files"), "are") };
        let base = status.chain.get(1).map_or("sandbox", String::as_str);
        out.push_str(&format!(
            "{count} changed in the work tree {verb} not in the draft; commit them, or compare with `stagecraft diff {base} .`\n"
        ));
    }
    out
}
