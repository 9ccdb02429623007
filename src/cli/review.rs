//! `stagecraft review --head REF [--base REF] [--format markdown|json|text] [--max-chars N]`
//!
//! I/O: the terminal (through `Ui`), and the repository through `ops` (or a daemon's
//! `GET /v1/review` with `--server`).

use super::Context;
use super::ui::Ui;
use crate::config::ForgeKind;
use crate::error::Error;
use crate::forge::Forge;
use crate::review::GITHUB_COMMENT_LIMIT;
use crate::wire::ReviewParams;

/// Review a change as a pull request would be: what merging it does, every validation error, warnings, the field-level diff
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The change: a branch (`feature/x`), a ref (`refs/pull/7/head`) or a commit
    #[arg(long, value_name = "REF")]
    head: String,
    /// What it merges into: the draft or an environment branch [default: the draft]
    #[arg(long, value_name = "REF")]
    base: Option<String>,
    /// markdown (a pull-request comment), json, or text [default: text on a terminal, markdown otherwise; json with --json]
    #[arg(long, value_enum)]
    format: Option<ReviewFormat>,
    /// The longest markdown, in characters (a forge's comment limit)
    #[arg(long, value_name = "N", default_value_t = GITHUB_COMMENT_LIMIT as u64, value_parser = clap::value_parser!(u64).range(1_000..=1_048_576))]
    max_chars: u64,
    /// Post the review on the pull request (one comment, edited in place on later runs) and set the commit status `stagecraft/review`; the forge, repository, number and token come from the CI's environment (GitHub Actions, Gitea Actions, GitLab CI) or the flags below; the token from STAGECRAFT_REVIEW_TOKEN (or GITHUB_TOKEN)
    #[arg(long)]
    post: bool,
    /// github, gitlab or gitea [default: gitlab under GitLab CI, gitea under Gitea Actions, else github]
    #[arg(long, value_enum, requires = "post")]
    forge: Option<ForgeArg>,
    /// The forge's REST API [default: GITHUB_API_URL or CI_API_V4_URL, else https://api.github.com]
    #[arg(long, value_name = "URL", requires = "post")]
    api_url: Option<String>,
    /// owner/name; for GitLab the project's path or id [default: GITHUB_REPOSITORY or CI_PROJECT_ID]
    #[arg(long, value_name = "OWNER/NAME", requires = "post")]
    repository: Option<String>,
    /// The pull (merge) request's number [default: GITHUB_EVENT_PATH's event, or CI_MERGE_REQUEST_IID]
    #[arg(long, value_name = "N", requires = "post")]
    pr: Option<u64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ForgeArg {
    Github,
    Gitlab,
    Gitea,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ReviewFormat {
    Markdown,
    Json,
    Text,
}

/// Exit 0 when the head validates, 1 when it does not, 2 on any error.
pub fn run(args: Args, context: &Context, ui: &Ui) -> Result<u8, Error> {
    match review(args, context, ui) {
        Ok(code) => Ok(code),
        Err(error) => {
            ui.error(&error);
            Ok(2)
        }
    }
}

fn review(args: Args, context: &Context, ui: &Ui) -> Result<u8, Error> {
    let view = match context.client()? {
        Some(client) => {
            let params = ReviewParams {
                head: args.head.clone(),
                base: args.base.clone(),
                max_chars: Some(args.max_chars as usize),
            };
            client.get_with("/v1/review", &params)?
        }
        None => {
            let store = context.open_store()?;
            crate::ops::review::review(&store, &args.head, args.base.as_deref())?.view(args.max_chars as usize)
        }
    };
    let format = match (args.format, ui.json) {
        (Some(format), _) => format,
        (None, true) => ReviewFormat::Json,
        (None, false) if ui.stdout_is_terminal() => ReviewFormat::Text,
        (None, false) => ReviewFormat::Markdown,
    };
    match format {
        ReviewFormat::Markdown => ui.print(&view.markdown),
        ReviewFormat::Json => {
            ui.print(&format!("{}\n", serde_json::to_string_pretty(&view).expect("wire types serialize")));
        }
        ReviewFormat::Text => {
            let mut out = format!("{}\n", view.merging);
            if view.valid {
                out.push_str(&format!("{} validates\n", view.head));
            } else {
                out.push_str(&format!("{} does not validate: {} errors\n", view.head, view.findings.len()));
                for finding in &view.findings {
                    out.push_str(finding);
                    if !finding.ends_with('\n') {
                        out.push('\n');
                    }
                }
            }
            for warning in &view.warnings {
                out.push_str(&format!("warning: {warning}\n"));
            }
            out.push_str(&format!("summary: {}\n", view.summary));
            ui.print(&out);
        }
    }
    if args.post {
        post(&args, context, ui, &view)?;
    }
    Ok(if view.valid { 0 } else { 1 })
}

/// Posts the review on the pull request the CI's environment or the flags name.
fn post(args: &Args, context: &Context, ui: &Ui, view: &crate::wire::ReviewView) -> Result<(), Error> {
    let missing =
        |what: &str, hint: &str| Error::Usage { message: format!("--post needs {what}"), hint: Some(hint.to_string()) };
    let set = |name: &str| context.env_var(name).filter(|value| !value.trim().is_empty());
    let kind = match args.forge {
        Some(ForgeArg::Github) => ForgeKind::GitHub,
        Some(ForgeArg::Gitlab) => ForgeKind::GitLab,
        Some(ForgeArg::Gitea) => ForgeKind::Gitea,
        None if set("GITLAB_CI").is_some() || set("CI_API_V4_URL").is_some() => ForgeKind::GitLab,
        None if set("GITEA_ACTIONS").is_some() => ForgeKind::Gitea,
        None => ForgeKind::GitHub,
    };
    let (api_url, repository, number) = match kind {
        ForgeKind::GitLab => (
            args.api_url.clone().or_else(|| set("CI_API_V4_URL")),
            args.repository.clone().or_else(|| set("CI_PROJECT_ID")),
            args.pr.or_else(|| set("CI_MERGE_REQUEST_IID").and_then(|n| n.trim().parse().ok())),
        ),
        ForgeKind::GitHub | ForgeKind::Gitea => (
            args.api_url.clone().or_else(|| set("GITHUB_API_URL")),
            args.repository.clone().or_else(|| set("GITHUB_REPOSITORY")),
            args.pr.or_else(|| {
                let event = set("GITHUB_EVENT_PATH")
                    .and_then(|path| std::fs::read_to_string(path).ok())
                    .and_then(|text| serde_json::from_str::<serde_json::Value>(&text).ok())?;
                event["pull_request"]["number"].as_u64().or(event["number"].as_u64())
            }),
        ),
    };
    let api_url = match (api_url, kind) {
        (Some(url), _) => url,
        (None, ForgeKind::GitHub) => "https://api.github.com".into(),
        (None, _) => {
            return Err(missing(
                "the forge's API URL",
                "pass --api-url https://HOST/api/v4 (GitLab) or https://HOST/api/v1 (Gitea)",
            ));
        }
    };
    let repository = repository.ok_or_else(|| {
        missing("the repository", "pass --repository owner/name, or run in GitHub Actions or GitLab CI")
    })?;
    let number = number.ok_or_else(|| {
        missing(
            "the pull request's number",
            "pass --pr N, or run on a pull_request event (a merge request pipeline in GitLab)",
        )
    })?;
    let token = set("STAGECRAFT_REVIEW_TOKEN")
        .or_else(|| if kind == ForgeKind::GitLab { None } else { set("GITHUB_TOKEN") })
        .ok_or_else(|| match kind {
            ForgeKind::GitLab => {
                missing("a token", "set STAGECRAFT_REVIEW_TOKEN to a project access token with the api scope")
            }
            _ => missing("a token", "set STAGECRAFT_REVIEW_TOKEN (or GITHUB_TOKEN in GitHub or Gitea Actions)"),
        })?;
    let forge = Forge {
        kind,
        api_url: api_url.trim_end_matches('/').to_string(),
        repository,
        token: crate::config::Secret::new(token.trim().to_string()),
    };
    let posted = forge.post_blocking(number, &view.head_commit, &view.markdown, view.first_error().as_deref())?;
    let verb = if posted.updated { "updated" } else { "posted" };
    ui.notes(&[format!("{verb} the review on pull request #{number} (comment {})", posted.comment)]);
    Ok(())
}
