//! The daemon's pull-request reviewer (io: git, the forge's API): the forge hooks hand it
//! [`PullEvent`]s and it reviews each pull request's head the way `stagecraft review
//! --post` does: the `pending` status, a fetch of the head (`refs/pull/N/head`,
//! `refs/merge-requests/N/head`), the review, the one sticky comment, then `success` or
//! `failure`.
//!
//! - One review at a time per pull request (and two pull requests at once); a newer head cancels the review in progress
//!   and runs next (the newest head wins); a closed or merged pull request has its review
//!   cancelled and gets nothing more.
//! - It runs on its own tasks and blocking threads, beside the delivery workers, so it
//!   never delays a delivery; the hook is answered before it starts.
//! - A base that is neither the draft nor an environment branch is not reviewed.
//! - A head that cannot be fetched (a fork the forge does not expose) gets a comment that
//!   says so and the status `error`.
//! - Forge errors are logged with their hint (token scope, repository name); a `429` or a
//!   `5xx` was tried again before.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;

use tokio::sync::mpsc;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::error::Error;
use crate::forge::State;
use crate::forge::event::{PullAction, PullEvent};
use crate::loaded::SharedConfig;
use crate::model::Chain;
use crate::review::GITHUB_COMMENT_LIMIT;
use crate::store::Store;
use crate::store::remote::Remote;

/// How many hook events may wait for the reviewer.
pub const BACKLOG: usize = 256;

/// Reviews of different pull requests at once (each fetches into the one mirror).
const AT_ONCE: usize = 2;

/// What a review job reads.
#[derive(Clone)]
pub struct Reviewing {
    pub config: Arc<SharedConfig>,
    pub chain: Chain,
    pub repository: PathBuf,
    pub remote: Option<Remote>,
    pub client: reqwest::Client,
}

/// One pull request's review in progress, and the newest head waiting behind it.
struct Slot {
    cancel: CancellationToken,
    queued: Option<PullEvent>,
}

/// Runs until `stop`: reviews the pull requests `events` name.
pub async fn run(mut events: mpsc::Receiver<PullEvent>, reviewing: Reviewing, stop: CancellationToken) {
    let mut running: HashMap<u64, Slot> = HashMap::new();
    let limit = Arc::new(tokio::sync::Semaphore::new(AT_ONCE));
    let mut jobs: JoinSet<u64> = JoinSet::new();
    loop {
        tokio::select! {
            Some(event) = events.recv() => match event.action {
                PullAction::Close => {
                    if let Some(slot) = running.get_mut(&event.number) {
                        slot.cancel.cancel();
                        slot.queued = None;
                    }
                    tracing::info!(pull = event.number, "pull request #{} closed: no more reviews", event.number);
                }
                PullAction::Review => match running.get_mut(&event.number) {
                    Some(slot) => {
                        // The newest head wins: the review in progress stops, this one follows.
                        slot.cancel.cancel();
                        slot.queued = Some(event);
                    }
                    None => {
                        let cancel = stop.child_token();
                        running.insert(event.number, Slot { cancel: cancel.clone(), queued: None });
                        jobs.spawn(job(event, reviewing.clone(), cancel, limit.clone()));
                    }
                },
            },
            Some(done) = jobs.join_next() => {
                let number = match done {
                    Ok(number) => number,
                    Err(error) => {
                        tracing::error!(error = %error, "a review task failed");
                        continue;
                    }
                };
                if let Some(next) = running.remove(&number).and_then(|slot| slot.queued) {
                    let cancel = stop.child_token();
                    running.insert(number, Slot { cancel: cancel.clone(), queued: None });
                    jobs.spawn(job(next, reviewing.clone(), cancel, limit.clone()));
                }
            }
            _ = stop.cancelled() => break,
        }
    }
    jobs.abort_all();
}

/// One review, dropped where it is when `cancel` fires.
async fn job(
    event: PullEvent,
    reviewing: Reviewing,
    cancel: CancellationToken,
    limit: Arc<tokio::sync::Semaphore>,
) -> u64 {
    let number = event.number;
    let _permit = tokio::select! {
        permit = limit.acquire_owned() => permit.expect("the semaphore stays open"),
        _ = cancel.cancelled() => return number,
    };
    // Biased: once cancelled, the review is never polled again, so it posts nothing more.
    tokio::select! {
        biased;
        _ = cancel.cancelled() => {
            tracing::info!(
                pull = number,
                "the review of pull request #{number} at {} was cancelled: a newer head, or the pull request closed",
                event.head_commit
            );
        }
        result = review_and_post(&event, &reviewing) => match result {
            Ok(Some(message)) => tracing::info!(pull = number, head = event.head_commit.as_str(), "{message}"),
            Ok(None) => {}
            Err(error) => {
                let report = error.report();
                tracing::error!(pull = number, "cannot post the review of pull request #{number}:\n{}", report.render_text());
            }
        },
    }
    number
}

/// The review of one head, posted; what it did, for the log.
async fn review_and_post(event: &PullEvent, reviewing: &Reviewing) -> Result<Option<String>, Error> {
    let config = reviewing.config.get();
    let Some(forge) = config.review.clone() else {
        return Ok(None);
    };
    if forge.kind != event.forge {
        tracing::debug!(
            forge = event.forge.name(),
            "a pull-request hook of another forge than [review]'s: not reviewed"
        );
        return Ok(None);
    }
    drop(config);
    if !reviewing.chain.contains(&event.base_branch) {
        return Ok(Some(format!(
            "pull request #{} merges into `{}`, neither the draft nor an environment branch: not reviewed",
            event.number, event.base_branch
        )));
    }
    let client = &reviewing.client;
    let head = event.head_commit.as_str();
    forge.status(client, head, State::Pending, "stagecraft is reviewing this change").await?;
    let (event_copy, reviewing_copy) = (event.clone(), reviewing.clone());
    let reviewed = tokio::task::spawn_blocking(move || review_head(&event_copy, &reviewing_copy))
        .await
        .map_err(|e| Error::Usage { message: format!("the review task failed: {e}"), hint: None })?;
    match reviewed {
        Reviewed::View(view) => {
            let posted = forge.comment(client, event.number, &view.markdown).await?;
            forge.finish(client, head, view.first_error().as_deref()).await?;
            let verb = if posted.updated { "updated" } else { "posted" };
            Ok(Some(format!("{verb} the review of pull request #{} (comment {})", event.number, posted.comment)))
        }
        Reviewed::Unfetchable(reason) => {
            let markdown = crate::review::unfetchable_markdown(&event.head_ref, head, event.from_fork, &reason);
            forge.comment(client, event.number, &markdown).await?;
            let description = format!("cannot fetch the head ({}): {reason}", event.head_ref);
            forge.status(client, head, State::Error, &description).await?;
            Ok(Some(format!("pull request #{}: the head could not be fetched: {reason}", event.number)))
        }
        Reviewed::Failed(error) => {
            let description = format!("stagecraft could not review: {error}");
            forge.status(client, head, State::Error, &description).await?;
            Err(error)
        }
    }
}

/// What reviewing a head gave.
enum Reviewed {
    View(crate::wire::ReviewView),
    /// The head commit is not in the repository, even after a fetch.
    Unfetchable(String),
    Failed(Error),
}

/// Fetches the head (remote mode) and reviews it against its base (blocking).
fn review_head(event: &PullEvent, reviewing: &Reviewing) -> Reviewed {
    let store = match open(reviewing) {
        Ok(store) => store,
        Err(error) => return Reviewed::Failed(error),
    };
    let mut fetch_error = None;
    if let Some(remote) = &reviewing.remote
        && let Err(error) = remote.fetch_ref(store.git_dir(), &event.head_ref, &event.head_ref)
    {
        // Shown on the pull request: no URL (a mirror's address, credentials in it).
        fetch_error = Some(without_urls(&error.to_string()));
    }
    let Some(found) = store.resolve_ref(&event.head_commit).filter(|found| found.commit.to_hex() == event.head_commit)
    else {
        return Reviewed::Unfetchable(
            fetch_error.unwrap_or_else(|| format!("the commit {} is not in the repository", event.head_commit)),
        );
    };
    // Named by the forge's ref while it still points at this head, else by the commit.
    let head = match store.resolve_ref(&event.head_ref) {
        Some(at) if at.commit == found.commit => event.head_ref.clone(),
        _ => event.head_commit.clone(),
    };
    match crate::ops::review::review(&store, &head, Some(&event.base_branch)) {
        Ok(review) => Reviewed::View(review.view(GITHUB_COMMENT_LIMIT)),
        Err(error) => Reviewed::Failed(error),
    }
}

/// `text` with every URL replaced by `<remote>`.
fn without_urls(text: &str) -> String {
    text.split_whitespace()
        .map(|word| if word.contains("://") || word.contains('@') { "<remote>" } else { word })
        .collect::<Vec<_>>()
        .join(" ")
}

fn open(reviewing: &Reviewing) -> Result<Store, Error> {
    Store::open(&reviewing.repository)
}
