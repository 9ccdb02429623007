//! Editing the draft in the browser: each file of an assistant as text (the instructions
//! with a Markdown preview), validated on save with every finding at `file:line:col`
//! beside the text, and saved as one commit on the draft authored as the signed-in
//! token's name (`Stagecraft-Action: edit`, `Stagecraft-Actor: token:<name>`). The page
//! keeps the user's text whenever a save is refused: findings, a draft that moved since
//! the editor was opened (a conflict, with what changed meanwhile), a text over the size
//! limit, a session that expired.
//!
//! Part of the HTTP adapter (I/O: HTTP; the repository only through `ops`, on blocking threads).

use axum::Form;
use axum::extract::rejection::FormRejection;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use maud::{Markup, PreEscaped, html};
use serde::Deserialize;

use super::{Visitor, csrf_field, error_page, page, problem_page, refusal};
use crate::config::Role;
use crate::error::Error;
use crate::http::AppState;
use crate::http::writes::{identity, options};
use crate::identity::Person;
use crate::ops::edit::FileEdit;
use crate::wire::WriteFlags;

/// Instructions as HTML, for the preview: Markdown, with any HTML in it shown as text.
fn markdown(text: &str) -> Markup {
    use pulldown_cmark::{Event, Parser};
    let events = Parser::new(text).map(|event| match event {
        Event::Html(raw) | Event::InlineHtml(raw) => Event::Text(raw),
        other => other,
    });
    let mut out = String::new();
    pulldown_cmark::html::push_html(&mut out, events);
    PreEscaped(out)
}

#[derive(Debug, Deserialize)]
pub struct FileQuery {
    path: Option<String>,
    assistant: Option<String>,
}

/// The draft's assistants, or one assistant's files, or one file's editor.
pub async fn editor(State(state): State<AppState>, visitor: Visitor, Query(query): Query<FileQuery>) -> Response {
    if let Err(refused) = visitor.require_page(Role::Publisher, "Editing") {
        return refused;
    }
    if let Some(path) = query.path {
        let shown = path.clone();
        let read = state.with_store(move |store| crate::ops::edit::read_file(store, &path)).await;
        return match read {
            Ok((Some(text), tip)) => file_page(&visitor, &shown, &text, &tip.to_hex(), None, None),
            Ok((None, _)) => refusal(
                &visitor,
                StatusCode::NOT_FOUND,
                &format!("The draft has no file {shown}."),
                "Pick a file from the list.",
            ),
            Err(problem) => problem_page(&visitor, problem),
        };
    }
    let assistant = query.assistant.filter(|a| !a.is_empty());
    let listed = {
        let assistant = assistant.clone();
        state
            .with_store(move |store| match &assistant {
                Some(id) => crate::ops::edit::assistant_files(store, id),
                None => crate::ops::edit::assistant_ids(store),
            })
            .await
    };
    let items = match listed {
        Ok(items) => items,
        Err(problem) => return problem_page(&visitor, problem),
    };
    let body = match &assistant {
        Some(id) => html! {
            p { a.button href={ "/edit/settings?assistant=" (super::form_urlencoded(id)) } { "Common settings of " (id) } }
            p { "The files of " strong { (id) } " on the draft:" }
            ul { @for path in &items { li { a href={ "/edit?path=" (super::form_urlencoded(path)) } { (path) } } } }
            form method="post" action="/edit/delete" {
                (csrf_field(&visitor))
                input type="hidden" name="assistant" value=(id);
                p {
                    input type="checkbox" id="confirm" name="confirm" value="yes" data-confirms="delete";
                    " "
                    label for="confirm" { "I understand this deletes " (id) " from the draft" }
                }
                button.danger id="delete" type="submit" { "Delete " (id) }
            }
        },
        None => html! {
            p { "Pick an assistant of the draft:" }
            ul { @for id in &items { li { a href={ "/edit?assistant=" (super::form_urlencoded(id)) } { (id) } } } }
            h2 { "A new assistant" }
            form method="post" action="/edit/new" {
                (csrf_field(&visitor))
                p {
                    label for="id" { "Id (lowercase letters, digits, - and _)" }
                    br;
                    input type="text" id="id" name="id" required maxlength="64" pattern="[a-z0-9][a-z0-9_-]*";
                }
                button type="submit" { "Create from the template" }
            }
        },
    };
    page(&visitor, "Edit the draft", None, body)
}

/// One file's editor, with the findings of a refused save or the preview.
fn file_page(
    visitor: &Visitor,
    path: &str,
    text: &str,
    expected: &str,
    findings: Option<Markup>,
    preview: Option<Markup>,
) -> Response {
    let is_markdown = path.ends_with(".md");
    let body = html! {
        @if let Some(findings) = findings { (findings) }
        form method="post" action="/edit" {
            (csrf_field(visitor))
            input type="hidden" name="path" value=(path);
            input type="hidden" name="expected" value=(expected);
            p {
                label for="text" { "Contents of " code { (path) } }
                br;
                textarea id="text" name="text" rows="24" spellcheck="false" { (text) }
            }
            div.actions {
                button id="save" type="submit" name="action" value="save" { "Save to the draft" }
                @if is_markdown { button.secondary type="submit" name="action" value="preview" { "Preview" } }
                a.button.secondary href="/edit" { "Cancel" }
            }
        }
        @if let Some(preview) = preview {
            h2 { "Preview" }
            div.card { (preview) }
        }
    };
    page(visitor, &format!("Edit {path}"), None, body)
}

#[derive(Debug, Deserialize)]
pub struct EditForm {
    #[serde(default)]
    csrf: String,
    path: String,
    text: String,
    #[serde(default)]
    expected: String,
    action: Option<String>,
}

/// Saves (or previews) a file.
pub async fn save(
    State(state): State<AppState>,
    visitor: Visitor,
    form: Result<Form<EditForm>, FormRejection>,
) -> Response {
    let form = match form {
        Ok(Form(form)) => form,
        Err(rejection) if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE => {
            return refusal(
                &visitor,
                StatusCode::PAYLOAD_TOO_LARGE,
                "The text is over the size limit (1 MiB a request); nothing was saved.",
                "Go back: your browser still has the text. Edit large files with git.",
            );
        }
        Err(rejection) => {
            return refusal(
                &visitor,
                StatusCode::BAD_REQUEST,
                &format!("The form could not be read: {rejection}"),
                "Reload the editor.",
            );
        }
    };
    // The text is kept whatever happens: an expired session is told so beside it.
    if visitor.session.is_none() {
        let note = html! { div.problem role="alert" { p { "Your session has expired: nothing was saved. Sign in again in another tab, then save." } } };
        let mut response = file_page(&visitor, &form.path, &form.text, &form.expected, Some(note), None);
        *response.status_mut() = StatusCode::FORBIDDEN;
        return response;
    }
    let session = match visitor.require_post(&form.csrf, Role::Publisher) {
        Ok(session) => session.clone(),
        Err(refused) => return refused,
    };
    let text = form.text.replace("\r\n", "\n");
    if form.action.as_deref() == Some("preview") {
        return file_page(&visitor, &form.path, &text, &form.expected, None, Some(markdown(&text)));
    }
    let mut identity = match identity(&state) {
        Ok(identity) => identity,
        Err(problem) => return problem_page(&visitor, problem),
    };
    // Authored as the signed-in token's name; the daemon commits.
    identity.author =
        Person { name: session.name.clone(), email: format!("{}@tokens.stagecraft.invalid", session.name) };
    let flags = WriteFlags {
        message: None,
        force: false,
        confirm: false,
        preview: false,
        expected: Some(form.expected.clone()).filter(|e| !e.is_empty()),
    };
    let options = match options(&state, visitor.actor(), flags) {
        Ok(options) => options,
        Err(problem) => return problem_page(&visitor, problem),
    };
    let edits = vec![FileEdit::Write { path: form.path.clone(), text: text.clone() }];
    let saved =
        state.with_store_for_write(move |store| Ok(crate::ops::edit::edit(store, &identity, &edits, &options))).await;
    match saved {
        Ok(Ok(done)) => {
            let written = done.written();
            if let Some(commit) = &written.commit {
                crate::http::writes::wait_for_sync(&state, &written.environment, commit, super::actions::SYNC_WAIT)
                    .await;
            }
            let body = html! {
                div.notice role="status" {
                    p { strong { "Saved " (form.path) " to the draft" } }
                    p.muted { (written.summary) }
                    @if let Some(commit) = &written.commit { p.muted { "Commit " code { (&commit[..7]) } " by " (session.name) } }
                }
                div.actions {
                    a.button href={ "/edit?path=" (super::form_urlencoded(&form.path)) } { "Edit it again" }
                    a.button.secondary href="/compare" { "Compare the draft" }
                }
            };
            page(&visitor, "Saved", None, body)
        }
        Ok(Err(Error::Invalid { diagnostics, .. })) => {
            let findings = html! {
                div.problem role="alert" {
                    p { strong { "Not saved: the draft would not validate." } " Fix these, then save again:" }
                    ul.findings { @for d in &diagnostics { li { (d.render()) } } }
                }
            };
            let mut response = file_page(&visitor, &form.path, &text, &form.expected, Some(findings), None);
            *response.status_mut() = StatusCode::UNPROCESSABLE_ENTITY;
            response
        }
        Ok(Err(error @ Error::Conflict { .. })) => {
            // What changed meanwhile, and a fresh base to save on.
            let (path, expected) = (form.path.clone(), form.expected.clone());
            let since = state
                .with_store(move |store| {
                    let (_, tip) = crate::ops::edit::read_file(store, &path)?;
                    let old = crate::model::ObjectId::from_hex(&expected).unwrap_or(tip);
                    Ok((crate::ops::read::diff_commits(store, old, tip)?, tip))
                })
                .await;
            let (changes, tip) = match since {
                Ok(found) => found,
                Err(problem) => return problem_page(&visitor, problem),
            };
            let labels = crate::diff::render::Labels {
                from: "when you opened the editor".into(),
                to: "the draft now".into(),
                from_commit: None,
                to_commit: None,
            };
            let findings = html! {
                div.problem role="alert" {
                    p { strong { "Not saved: the draft moved since you opened this file." } " " (error.to_string()) }
                    p.muted { "Your text is below. Saving again writes it over the draft as it is now; check what changed first:" }
                }
                (crate::diff::render::html::render(&changes, &labels))
            };
            let mut response = file_page(&visitor, &form.path, &text, &tip.to_hex(), Some(findings), None);
            *response.status_mut() = StatusCode::CONFLICT;
            response
        }
        Ok(Err(error)) => error_page(&visitor, &error),
        Err(problem) => problem_page(&visitor, problem),
    }
}

/// Writes `edits` on the draft as the signed-in token; the saved page, or the refusal
/// with the findings.
async fn save_edits(
    state: &AppState,
    visitor: &Visitor,
    csrf: &str,
    edits: Vec<FileEdit>,
    expected: Option<String>,
    done_title: String,
) -> Response {
    let session = match visitor.require_post(csrf, Role::Publisher) {
        Ok(session) => session.clone(),
        Err(refused) => return refused,
    };
    let mut identity = match identity(state) {
        Ok(identity) => identity,
        Err(problem) => return problem_page(visitor, problem),
    };
    identity.author =
        Person { name: session.name.clone(), email: format!("{}@tokens.stagecraft.invalid", session.name) };
    let flags = WriteFlags { expected: expected.filter(|e| !e.is_empty()), ..WriteFlags::default() };
    let options = match options(state, visitor.actor(), flags) {
        Ok(options) => options,
        Err(problem) => return problem_page(visitor, problem),
    };
    match state.with_store_for_write(move |store| Ok(crate::ops::edit::edit(store, &identity, &edits, &options))).await
    {
        Ok(Ok(done)) => {
            let written = done.written();
            if let Some(commit) = &written.commit {
                crate::http::writes::wait_for_sync(state, &written.environment, commit, super::actions::SYNC_WAIT)
                    .await;
            }
            let body = html! {
                div.notice role="status" { p { strong { (done_title) } } p.muted { (written.summary) } }
                div.actions { a.button href="/edit" { "Back to the editor" } a.button.secondary href="/compare" { "Compare the draft" } }
            };
            page(visitor, "Saved", None, body)
        }
        Ok(Err(error)) => error_page(visitor, &error),
        Err(problem) => problem_page(visitor, problem),
    }
}

#[derive(Debug, Deserialize)]
pub struct NewForm {
    #[serde(default)]
    csrf: String,
    id: String,
}

/// A new assistant from the template: its `assistant.toml` and `instructions.md`.
pub async fn create(State(state): State<AppState>, visitor: Visitor, Form(form): Form<NewForm>) -> Response {
    let id = form.id.trim().to_string();
    if crate::model::AssistantId::new(&id).is_err() {
        return refusal(
            &visitor,
            StatusCode::BAD_REQUEST,
            &format!("`{}` is not an assistant id.", crate::model::escape_for_display(&id)),
            "Use lowercase letters, digits, - and _ (at most 64), starting with a letter or digit.",
        );
    }
    let toml = format!(
        "name = \"{id}\"\ndescription = \"What {id} does, in one sentence\"\n\n[model]\nname = \"gpt-4o-mini\"\ntemperature = 0.3\nmax_output_tokens = 500\n"
    );
    let instructions =
        format!("# {id}\n\nDescribe who the assistant is, what it helps with, and what it never does.\n");
    let edits = vec![
        FileEdit::Write { path: format!("assistants/{id}/assistant.toml"), text: toml },
        FileEdit::Write { path: format!("assistants/{id}/instructions.md"), text: instructions },
    ];
    save_edits(&state, &visitor, &form.csrf, edits, None, format!("Created {id} on the draft")).await
}

/// The page refusing an assistant id a form posted, when it is none.
fn refuse_bad_assistant_id(visitor: &Visitor, id: &str) -> Option<Response> {
    crate::model::AssistantId::new(id).is_err().then(|| {
        refusal(visitor, StatusCode::BAD_REQUEST, "That is not an assistant id.", "Pick an assistant from the list.")
    })
}

#[derive(Debug, Deserialize)]
pub struct DeleteForm {
    #[serde(default)]
    csrf: String,
    assistant: String,
    confirm: Option<String>,
}

/// Deletes an assistant's directory from the draft, after a confirmation.
pub async fn delete(State(state): State<AppState>, visitor: Visitor, Form(form): Form<DeleteForm>) -> Response {
    if let Some(refused) = refuse_bad_assistant_id(&visitor, &form.assistant) {
        return refused;
    }
    if form.confirm.is_none() {
        return refusal(
            &visitor,
            StatusCode::BAD_REQUEST,
            &format!("Deleting {} needs the confirmation ticked.", form.assistant),
            "Go back and tick it.",
        );
    }
    let edits = vec![FileEdit::Remove { path: format!("assistants/{}", form.assistant) }];
    save_edits(&state, &visitor, &form.csrf, edits, None, format!("Deleted {} from the draft", form.assistant)).await
}

#[derive(Debug, Deserialize)]
pub struct SettingsQuery {
    assistant: String,
}

/// An assistant's `assistant.toml` on the draft, and the draft's tip it was read at; a
/// refusal page when the draft has none.
async fn read_assistant_toml(
    state: &AppState,
    visitor: &Visitor,
    assistant: &str,
) -> Result<(String, String, crate::model::ObjectId), Response> {
    let path = format!("assistants/{assistant}/assistant.toml");
    let read = {
        let path = path.clone();
        state.with_store(move |store| crate::ops::edit::read_file(store, &path)).await
    };
    match read {
        Ok((Some(text), tip)) => Ok((path, text, tip)),
        Ok((None, _)) => Err(refusal(
            visitor,
            StatusCode::NOT_FOUND,
            &format!("The draft has no {path}."),
            "Pick an assistant from the list.",
        )),
        Err(problem) => Err(problem_page(visitor, problem)),
    }
}

/// The common settings of an assistant as a form: name, description, model, temperature.
pub async fn settings_form(
    State(state): State<AppState>,
    visitor: Visitor,
    Query(query): Query<SettingsQuery>,
) -> Response {
    if let Err(refused) = visitor.require_page(Role::Publisher, "Editing") {
        return refused;
    }
    let (path, text, tip) = match read_assistant_toml(&state, &visitor, &query.assistant).await {
        Ok(read) => read,
        Err(refused) => return refused,
    };
    let doc: toml_edit::DocumentMut = text.parse().unwrap_or_default();
    let get = |key: &str| doc.get(key).and_then(|v| v.as_str()).unwrap_or_default().to_string();
    let model = doc.get("model").and_then(|m| m.as_table_like());
    let model_name = model.and_then(|m| m.get("name")).and_then(|v| v.as_str()).unwrap_or_default().to_string();
    let temperature =
        model.and_then(|m| m.get("temperature")).and_then(|v| v.as_float().or(v.as_integer().map(|i| i as f64)));
    let body = html! {
        form method="post" action="/edit/settings" {
            (csrf_field(&visitor))
            input type="hidden" name="assistant" value=(query.assistant);
            input type="hidden" name="expected" value=(tip.to_hex());
            p { label for="name" { "Name" } br; input type="text" id="name" name="name" value=(get("name")) size="50" required; }
            p { label for="description" { "Description" } br; input type="text" id="description" name="description" value=(get("description")) size="70"; }
            p { label for="model" { "Model" } br; input type="text" id="model" name="model" value=(model_name) size="30" required; }
            p { label for="temperature" { "Temperature (0 to 2)" } br; input type="text" id="temperature" name="temperature" inputmode="decimal" value=(temperature.map(|t| t.to_string()).unwrap_or_default()) size="6"; }
            div.actions { button id="save" type="submit" { "Save to the draft" } a.button.secondary href="/edit" { "Cancel" } }
        }
        p.muted { "Other keys of " code { (path) } " and its comments are kept; edit them as text from the file list." }
    };
    page(&visitor, &format!("Settings of {}", query.assistant), None, body)
}

#[derive(Debug, Deserialize)]
pub struct SettingsForm {
    #[serde(default)]
    csrf: String,
    assistant: String,
    name: String,
    #[serde(default)]
    description: String,
    model: String,
    #[serde(default)]
    temperature: String,
    expected: Option<String>,
}

/// Writes the common settings into `assistant.toml`, keeping its other keys and comments.
pub async fn settings(State(state): State<AppState>, visitor: Visitor, Form(form): Form<SettingsForm>) -> Response {
    if let Some(refused) = refuse_bad_assistant_id(&visitor, &form.assistant) {
        return refused;
    }
    let (path, text, _) = match read_assistant_toml(&state, &visitor, &form.assistant).await {
        Ok(read) => read,
        Err(refused) => return refused,
    };
    let mut doc: toml_edit::DocumentMut = match text.parse() {
        Ok(doc) => doc,
        Err(_) => {
            return refusal(
                &visitor,
                StatusCode::UNPROCESSABLE_ENTITY,
                &format!("{path} is not valid TOML now."),
                "Fix it as text from the file list.",
            );
        }
    };
    doc["name"] = toml_edit::value(form.name.trim());
    if form.description.trim().is_empty() {
        doc.remove("description");
    } else {
        doc["description"] = toml_edit::value(form.description.trim());
    }
    if doc.get("model").and_then(|m| m.as_table_like()).is_none() {
        doc["model"] = toml_edit::table();
    }
    doc["model"]["name"] = toml_edit::value(form.model.trim());
    match form.temperature.trim() {
        "" => {
            if let Some(model) = doc["model"].as_table_like_mut() {
                model.remove("temperature");
            }
        }
        text => match text.parse::<f64>() {
            Ok(value) => doc["model"]["temperature"] = toml_edit::value(value),
            Err(_) => {
                return refusal(
                    &visitor,
                    StatusCode::UNPROCESSABLE_ENTITY,
                    &format!("The temperature `{}` is not a number.", crate::model::escape_for_display(text)),
                    "Write it like 0.3.",
                );
            }
        },
    }
    let edits = vec![FileEdit::Write { path, text: doc.to_string() }];
    save_edits(&state, &visitor, &form.csrf, edits, form.expected, format!("Saved the settings of {}", form.assistant))
        .await
}
