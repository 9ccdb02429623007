//! What a forge's pull-request hook asks of the reviewer (pure): GitHub's and Gitea's
//! `pull_request` events and GitLab's `Merge Request Hook` read into one [`PullEvent`].
//! A change that was opened, reopened, pushed to or edited is reviewed; a closed or
//! merged one gets nothing more; every other action (labels, assignees, reviews) is
//! not a review's business.

use serde_json::Value;

use crate::config::ForgeKind;

/// What the reviewer does for a pull request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PullAction {
    /// Review its head (opened, reopened, new commits, edited).
    Review,
    /// Stop: closed or merged; a review in progress posts nothing more.
    Close,
}

/// A pull (merge) request hook, read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PullEvent {
    pub forge: ForgeKind,
    /// The pull request's number (GitLab: the merge request's `iid`).
    pub number: u64,
    pub action: PullAction,
    /// The head commit the hook names (40 hex digits).
    pub head_commit: String,
    /// The branch it merges into.
    pub base_branch: String,
    /// The ref the forge keeps the head at: `refs/pull/N/head` or
    /// `refs/merge-requests/N/head`.
    pub head_ref: String,
    /// The head is in another repository (a fork).
    pub from_fork: bool,
}

/// Reads a hook's body. `None`: not a pull-request event, an action a review does not
/// follow, or a payload without the fields a review needs.
pub fn parse(forge: ForgeKind, event: &str, body: &[u8]) -> Option<PullEvent> {
    let payload: Value = serde_json::from_slice(body).ok()?;
    match forge {
        ForgeKind::GitHub | ForgeKind::Gitea => {
            if event != "pull_request" {
                return None;
            }
            let action = match payload["action"].as_str()? {
                "opened" | "reopened" | "synchronize" | "synchronized" | "edited" => PullAction::Review,
                "closed" => PullAction::Close,
                _ => return None,
            };
            let pull = &payload["pull_request"];
            // An edit (a title, a label) of a closed pull request reviews nothing.
            let action = if pull["state"].as_str() == Some("closed") { PullAction::Close } else { action };
            let number = payload["number"].as_u64().or_else(|| pull["number"].as_u64())?;
            let head_repo = pull["head"]["repo"]["full_name"].as_str();
            let base_repo = pull["base"]["repo"]["full_name"].as_str();
            Some(PullEvent {
                forge,
                number,
                action,
                head_commit: commit_id(pull["head"]["sha"].as_str()?)?,
                base_branch: pull["base"]["ref"].as_str()?.to_string(),
                head_ref: format!("refs/pull/{number}/head"),
                from_fork: head_repo.is_some() && head_repo != base_repo,
            })
        }
        ForgeKind::GitLab => {
            if payload["object_kind"].as_str() != Some("merge_request") {
                return None;
            }
            let attributes = &payload["object_attributes"];
            let action = match attributes["action"].as_str()? {
                "open" | "reopen" | "update" => PullAction::Review,
                "close" | "merge" => PullAction::Close,
                _ => return None,
            };
            let action = match attributes["state"].as_str() {
                Some("closed" | "merged" | "locked") => PullAction::Close,
                _ => action,
            };
            let number = attributes["iid"].as_u64()?;
            let source = attributes["source_project_id"].as_u64();
            Some(PullEvent {
                forge,
                number,
                action,
                head_commit: commit_id(attributes["last_commit"]["id"].as_str()?)?,
                base_branch: attributes["target_branch"].as_str()?.to_string(),
                head_ref: format!("refs/merge-requests/{number}/head"),
                from_fork: source.is_some() && source != attributes["target_project_id"].as_u64(),
            })
        }
    }
}

/// A full commit id, or nothing: the id is used in a git ref lookup and in a URL.
fn commit_id(text: &str) -> Option<String> {
    let ok = matches!(text.len(), 40 | 64) && text.bytes().all(|b| b.is_ascii_hexdigit());
    ok.then(|| text.to_ascii_lowercase())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture(name: &str) -> Vec<u8> {
        std::fs::read(format!("{}/fixtures/forges/{name}", env!("CARGO_MANIFEST_DIR"))).expect("the forge fixtures")
    }

    #[test]
    fn real_payloads_are_read() {
        let gitea = parse(ForgeKind::Gitea, "pull_request", &fixture("gitea-pull_request_closed.json")).unwrap();
        assert_eq!(gitea.action, PullAction::Close);
        assert_eq!((gitea.number, gitea.base_branch.as_str()), (1, "master"));
        assert_eq!(gitea.head_commit, "2eba238e33607c1fa49253182e9fff42baafa1eb");
        assert_eq!(gitea.head_ref, "refs/pull/1/head");
        assert!(!gitea.from_fork);
        let gitlab =
            parse(ForgeKind::GitLab, "Merge Request Hook", &fixture("gitlab-pull_request_merge.json")).unwrap();
        assert_eq!(gitlab.action, PullAction::Close);
        assert_eq!(gitlab.head_commit, "c4c79227ed610f1151f05bbc5be33b4f340d39c8");
        assert_eq!(gitlab.head_ref, "refs/merge-requests/1/head");
        // A push is not a pull request.
        assert_eq!(parse(ForgeKind::GitHub, "push", &fixture("github-push.json")), None);
        assert_eq!(parse(ForgeKind::GitLab, "Push Hook", &fixture("gitlab-push.json")), None);
    }

    #[test]
    fn actions_map_to_review_close_or_nothing() {
        let body = |action: &str, sha: &str| {
            serde_json::to_vec(&serde_json::json!({
                "action": action, "number": 7,
                "pull_request": {"head": {"sha": sha, "repo": {"full_name": "fork/config"}},
                                  "base": {"ref": "draft", "repo": {"full_name": "acme/config"}}}
            }))
            .unwrap()
        };
        let sha = "a".repeat(40);
        let event = parse(ForgeKind::GitHub, "pull_request", &body("synchronize", &sha)).unwrap();
        assert_eq!((event.action, event.from_fork), (PullAction::Review, true));
        assert_eq!(parse(ForgeKind::GitHub, "pull_request", &body("labeled", &sha)), None);
        let mut closed: serde_json::Value = serde_json::from_slice(&body("edited", &sha)).unwrap();
        closed["pull_request"]["state"] = "closed".into();
        let closed = parse(ForgeKind::GitHub, "pull_request", &serde_json::to_vec(&closed).unwrap()).unwrap();
        assert_eq!(closed.action, PullAction::Close, "an edit of a closed pull request reviews nothing");
        assert_eq!(parse(ForgeKind::GitHub, "pull_request", &body("opened", "HEAD; rm -rf")), None);
        assert_eq!(parse(ForgeKind::GitHub, "pull_request", b"<html>"), None);
    }
}
