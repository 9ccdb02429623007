//! `stagecraft history [ENV] [--limit N] [--before CURSOR] [--all] [--action A] [--assistant ID]`
//!
//! I/O: the terminal (through `Ui`), and the repository or a daemon's API through `ops` or `client`.

use super::Context;
use super::ui::Ui;
use crate::error::Error;
use crate::ops::history::{HistoryQuery, history};
use crate::wire::HistoryPage;

/// List history entries, newest first: every environment and the draft, or one environment
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Only this environment
    environment: Option<String>,
    /// Entries per page
    #[arg(long, default_value_t = 20)]
    limit: usize,
    /// Continue after this cursor (printed at the end of a page)
    #[arg(long, value_name = "CURSOR")]
    before: Option<String>,
    /// Every entry, no pages
    #[arg(long)]
    all: bool,
    /// Only this action: init, publish, promote, rollback, revert, restore, discard, edit, merge
    #[arg(long, value_name = "A")]
    action: Option<String>,
    /// Only commits that change this assistant (its directory or channels.toml)
    #[arg(long, value_name = "ID")]
    assistant: Option<String>,
}

pub fn run(args: Args, context: &Context, ui: &Ui) -> Result<u8, Error> {
    if let Some(client) = context.client()? {
        let mut page = remote_page(&client, &args, args.before.clone())?;
        while args.all
            && let Some(next) = page.next.take()
        {
            let more = remote_page(&client, &args, Some(next))?;
            page.entries.extend(more.entries);
            page.next = more.next;
        }
        ui.notes(&page.warnings);
        ui.json(&page);
        ui.text(&render(&page));
        return Ok(0);
    }
    let store = context.open_store()?;
    let query = HistoryQuery {
        environment: args.environment,
        limit: Some(args.limit),
        before: args.before,
        all: args.all,
        action: args.action,
        assistant: args.assistant,
    };
    let page = history(&store, &query)?;
    ui.notes(&page.warnings);
    ui.json(&page);
    ui.text(&render(&page));
    Ok(0)
}

/// One page from a daemon (500 entries a page with `--all`).
fn remote_page(client: &crate::client::Client, args: &Args, before: Option<String>) -> Result<HistoryPage, Error> {
    let limit = if args.all { 500 } else { args.limit };
    let params = crate::wire::HistoryParams {
        environment: args.environment.clone(),
        limit: Some(limit),
        before,
        action: args.action.clone(),
        assistant: args.assistant.clone(),
    };
    client.get_with("/v1/history", &params)
}

pub fn render(page: &HistoryPage) -> String {
    if page.entries.is_empty() {
        return "no history entries\n".into();
    }
    let mut rows = vec![[
        "TIME".to_string(),
        "ENVIRONMENT".into(),
        "ACTION".into(),
        "VERSION".into(),
        "BY".into(),
        "SUMMARY".into(),
    ]];
    for entry in &page.entries {
        let version = match (entry.version, entry.source, entry.drift) {
            (Some(v), _, _) => format!("v{v}"),
            (None, Some(source), _) => format!("(v{source})"),
            (None, None, true) => "DRIFT".into(),
            _ => "-".into(),
        };
        let mut summary = entry.summary.clone();
        if let Some(reason) = &entry.forced {
            summary.push_str(&format!(" [forced: {reason}]"));
        }
        if let Some(tests) = &entry.tests {
            summary.push_str(&format!(" [{tests}]"));
        }
        if let Some(description) =
            entry.description.as_deref().filter(|d| !d.is_empty() && entry.action != "edit" && entry.action != "merge")
        {
            summary = format!("{} — {summary}", description.lines().next().unwrap_or(""));
        }
        rows.push([
            entry.time.clone(),
            entry.environment.clone().unwrap_or_else(|| "(all)".into()),
            entry.action.clone(),
            version,
            entry.actor.clone(),
            summary,
        ]);
    }
    let widths: Vec<usize> = (0..5).map(|c| rows.iter().map(|r| r[c].chars().count()).max().unwrap_or(0)).collect();
    let mut out = String::new();
    for row in &rows {
        let mut line: String = (0..5).map(|c| format!("{:<w$}  ", row[c], w = widths[c])).collect();
        line.push_str(&row[5]);
        out.push_str(line.trim_end());
        out.push('\n');
    }
    if let Some(next) = &page.next {
        out.push_str(&format!("\nmore: stagecraft history --before {next}\n"));
    }
    out
}
