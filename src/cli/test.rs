//! `stagecraft test [--env ENV | --version vN | --draft] [--assistant ID] [--case NAME]
//! [--junit FILE] [--concurrency N] [--json]`
//!
//! I/O: the terminal (a progress bar on stderr, the table on stdout), the JUnit file, the
//! repository through `ops`, the target through `tester`.

use std::time::{Duration, Instant};

use tokio_util::sync::CancellationToken;

use super::Context;
use super::ui::Ui;
use crate::config::Secret;
use crate::error::Error;
use crate::model::Version;
use crate::ops::test::{Subject, Tested};
use crate::tester::RunOptions;
use crate::testing::Target;
use crate::testing::{CaseResult, Outcome, Summary};

/// Run the regression cases of an environment, a version or the draft against an OpenAI-compatible endpoint or a runtime's test_url
#[derive(Debug, clap::Args)]
#[command(group = clap::ArgGroup::new("subject").args(["env", "version", "draft"]))]
pub struct Args {
    /// Test what this environment runs (its current version)
    #[arg(long, value_name = "ENV")]
    env: Option<String>,
    /// Test this version
    #[arg(long, value_name = "vN")]
    version: Option<Version>,
    /// Test the draft, unpublished [default]
    #[arg(long)]
    draft: bool,
    /// Only this assistant's cases
    #[arg(long, value_name = "ID")]
    assistant: Option<String>,
    /// Only the case of this name
    #[arg(long, value_name = "NAME")]
    case: Option<String>,
    /// Write the results as JUnit XML to FILE as well
    #[arg(long, value_name = "FILE")]
    junit: Option<std::path::PathBuf>,
    /// How many cases run at once
    #[arg(long, value_name = "N", default_value_t = 4, value_parser = clap::value_parser!(u16).range(1..=256))]
    concurrency: u16,
    /// An OpenAI-compatible API, like http://127.0.0.1:8000/v1 [default: STAGECRAFT_TEST_ENDPOINT, else the config's [test] endpoint, else the test_url of a runtime bound to --env]
    #[arg(long, value_name = "URL")]
    endpoint: Option<String>,
    /// The model to ask for [default: STAGECRAFT_TEST_MODEL, else each assistant's own]
    #[arg(long, value_name = "NAME")]
    model: Option<String>,
    /// The longest wait for one answer
    #[arg(long, value_name = "DURATION", default_value = "60s", value_parser = humantime::parse_duration)]
    timeout: Duration,
}

/// Exit 0 when every case ran and passed, 1 when one failed, 4 when the run could not
/// complete (or was stopped).
pub fn run(args: Args, context: &Context, ui: &Ui) -> Result<u8, Error> {
    if let Some(client) = context.client()? {
        if args.endpoint.is_some() || args.model.is_some() || args.junit.is_some() {
            return Err(Error::Usage {
                message: "--endpoint, --model and --junit apply to a local run".into(),
                hint: Some("with --server the daemon's own target runs the cases".into()),
            });
        }
        let request = crate::wire::TestRequest {
            env: args.env.clone(),
            version: args.version.map(|v| v.to_string()),
            assistant: args.assistant.clone(),
            case: args.case.clone(),
            concurrency: Some(args.concurrency.min(64)),
        };
        // A daemon that cannot be reached or fails is a run that could not complete.
        let answer: crate::wire::TestAnswer = match client.post("/v1/test", &request) {
            Ok(answer) => answer,
            Err(error) => {
                let incomplete = matches!(error, Error::Remote { .. })
                    || matches!(&error, Error::Api { code, .. } if *code == crate::error::Code::Io);
                let code = ui.error(&error);
                return Ok(if incomplete { 4 } else { code });
            }
        };
        show(ui, context, &answer);
        let summary = Summary { passed: answer.passed, failed: answer.failed, errors: answer.errors };
        return Ok(summary.exit_code());
    }
    let store = context.open_store()?;
    let subject = match (&args.env, args.version) {
        (Some(env), _) => Subject::Env(env.clone()),
        (None, Some(version)) => Subject::Version(version),
        (None, None) => Subject::Draft,
    };
    let mut tested = crate::ops::test::prepare(&store, &subject)?;
    let cases = tested.cases(args.assistant.as_deref(), args.case.as_deref())?;
    let target = target(args.endpoint.as_deref(), args.model.as_deref(), context, &store, &tested)?;
    // Who records the run, asked before anything runs.
    let identity = match tested.version {
        Some(_) => Some(context.identity(Some(&store))?),
        None => None,
    };
    let planned = cases.len();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(Error::io("start the test runner for", &tested.label))?;
    let stop = CancellationToken::new();
    let started = Instant::now();
    let progress =
        indicatif::ProgressBar::with_draw_target(Some(planned as u64), indicatif::ProgressDrawTarget::hidden());
    progress.set_style(
        indicatif::ProgressStyle::with_template("{bar:30} {pos}/{len} cases {elapsed} {msg}")
            .expect("a fixed template"),
    );
    let show_progress = !ui.json && std::io::IsTerminal::is_terminal(&std::io::stderr());
    let done = |result: &CaseResult| {
        // Only suites that take more than a second get a bar.
        if show_progress && started.elapsed() > Duration::from_secs(1) && progress.is_hidden() {
            progress.set_draw_target(indicatif::ProgressDrawTarget::stderr());
        }
        progress.set_message(format!("{}/{}", result.assistant, result.case));
        progress.inc(1);
    };
    let options = RunOptions { concurrency: usize::from(args.concurrency), timeout: args.timeout };
    let results = runtime.block_on(async {
        let interrupt = stop.clone();
        tokio::spawn(async move {
            if tokio::signal::ctrl_c().await.is_ok() {
                interrupt.cancel();
            }
        });
        crate::tester::run_suite(&target, cases, options, &done, &stop).await
    });
    progress.finish_and_clear();
    let summary = Summary::of(&results, planned);
    let describe = target.describe();
    if let Some(path) = &args.junit {
        let path = context.cwd.join(path);
        let xml = junit(&tested.label, &results);
        std::fs::write(&path, xml).map_err(Error::io("write the JUnit report", &path))?;
    }
    // Only a run that completed is recorded (a stopped or broken one never is).
    let recorded = match (&identity, summary.errors) {
        (Some(identity), 0) => crate::ops::test::record(
            &store,
            &tested,
            &describe,
            (summary.passed, summary.failed),
            &identity.author.to_string(),
            &identity.committer,
            identity.committer_time,
        )?,
        _ => None,
    };
    let answer = crate::wire::TestAnswer {
        tested: tested.label.clone(),
        target: describe.clone(),
        passed: summary.passed,
        failed: summary.failed,
        errors: summary.errors,
        cases: results.iter().map(crate::wire::TestCaseView::from).collect(),
        recorded: recorded.as_ref().map(|r| r.display()),
    };
    show(ui, context, &answer);
    if stop.is_cancelled() {
        ui.notes(&["stopped: the cases not finished count as not run, and nothing was recorded".to_string()]);
    }
    Ok(summary.exit_code())
}

/// The answer as JSON, or as the table, the whole of each failure, and the summary.
fn show(ui: &Ui, context: &Context, answer: &crate::wire::TestAnswer) {
    if ui.json {
        ui.json(answer);
        return;
    }
    ui.text(&table(&answer.cases, context.width()));
    let details: Vec<String> = answer
        .cases
        .iter()
        .filter_map(|case| {
            let detail = crate::model::escape_for_display(case.detail.as_ref()?);
            Some(format!("{}/{}: {detail}", case.assistant, case.case))
        })
        .collect();
    if !details.is_empty() {
        ui.text(&format!("\n{}\n", details.join("\n")));
    }
    let mut line = format!(
        "{}: {} passed, {} failed, {} not run, against {}",
        answer.tested, answer.passed, answer.failed, answer.errors, answer.target
    );
    if let Some(record) = &answer.recorded {
        let version = answer.tested.split(['(', ')']).nth(1).filter(|v| v.starts_with('v')).unwrap_or(&answer.tested);
        line.push_str(&format!("\nrecorded on {version}: {record}"));
    }
    ui.text(&line);
}

/// The target: an explicit endpoint, the config's `[test]`, or a runtime's `test_url`.
pub fn target(
    endpoint: Option<&str>,
    model: Option<&str>,
    context: &Context,
    store: &crate::store::Store,
    tested: &Tested,
) -> Result<Target, Error> {
    let set = |name: &str| context.env_var(name).map(|v| v.trim().to_string()).filter(|v| !v.is_empty());
    let model = model.map(str::to_string).or_else(|| set("STAGECRAFT_TEST_MODEL"));
    let key = set("STAGECRAFT_TEST_API_KEY").map(Secret::new);
    let explicit = match endpoint.map(str::to_string).or_else(|| set("STAGECRAFT_TEST_ENDPOINT")) {
        Some(endpoint) => Some(chat_target(&endpoint, model.clone(), key.clone())?),
        None => None,
    };
    let config = if explicit.is_some() { None } else { context.daemon_config(store)? };
    let test = match config.as_ref().and_then(|c| c.test.as_ref()) {
        Some(test) => {
            let key = match &test.api_key {
                Some(reference) => Some(resolve_secret(context, reference)?),
                None => key,
            };
            Some((test, key))
        }
        None => None,
    };
    let runtimes = config.as_ref().map(|c| c.runtimes.as_slice()).unwrap_or_default();
    let chosen =
        Target::choose(explicit, test, runtimes, tested.environment.as_ref(), tested.version.map(|(v, _)| v.number()));
    let chosen = match (chosen, model) {
        (Some(Target::Chat { endpoint, api_key, model: configured }), Some(model)) => {
            Some(Target::Chat { endpoint, api_key, model: Some(model).or(configured) })
        }
        (chosen, _) => chosen,
    };
    chosen.ok_or_else(|| Error::Usage {
        message: format!("nothing to test {} against", tested.label),
        hint: Some(
            "pass --endpoint http://HOST/v1 (an OpenAI-compatible API: vLLM, Ollama, llama.cpp, a hosted one) or set STAGECRAFT_TEST_ENDPOINT; or give the daemon's config with --config, with [test] endpoint or a runtime's test_url bound to --env"
                .into(),
        ),
    })
}

pub fn chat_target(endpoint: &str, model: Option<String>, api_key: Option<Secret>) -> Result<Target, Error> {
    let url = reqwest::Url::parse(endpoint).ok().filter(|u| matches!(u.scheme(), "http" | "https"));
    if url.is_none() {
        return Err(Error::Usage {
            message: format!("the endpoint `{}` is not an http(s) URL", crate::model::escape_for_display(endpoint)),
            hint: Some("give the API's base, like http://127.0.0.1:8000/v1".into()),
        });
    }
    if api_key.is_some() && endpoint.starts_with("http://") && !crate::loaded::is_loopback_url(endpoint) {
        return Err(Error::Usage {
            message: "the API key would cross the network in clear text".into(),
            hint: Some("use the endpoint's https:// URL (plain http:// is allowed on loopback only)".into()),
        });
    }
    Ok(Target::Chat { endpoint: endpoint.trim_end_matches('/').to_string(), model, api_key })
}

fn resolve_secret(context: &Context, reference: &crate::config::SecretRef) -> Result<Secret, Error> {
    let value = match reference {
        crate::config::SecretRef::Env(name) => context.env_var(name),
        crate::config::SecretRef::File(path) => std::fs::read_to_string(path).ok(),
    };
    value.map(|v| Secret::new(v.trim().to_string())).filter(|s| !s.expose().is_empty()).ok_or_else(|| Error::Usage {
        message: format!("[test] api_key: {reference} is not set"),
        hint: Some("set the variable or write the file the config names".into()),
    })
}

/// The results as a table: assistant, case, result, latency, the first failure.
fn table(cases: &[crate::wire::TestCaseView], width: usize) -> String {
    let rows: Vec<[String; 5]> = cases
        .iter()
        .map(|r| {
            let result = match r.result.as_str() {
                "passed" => "passed".to_string(),
                "failed" => "FAILED".to_string(),
                _ => "ERROR".to_string(),
            };
            let result = if r.runs > 1 { format!("{result} ({}/{})", r.passed_runs, r.runs) } else { result };
            let detail = crate::model::escape_for_display(r.detail.as_deref().unwrap_or_default());
            [r.assistant.clone(), r.case.clone(), result, format!("{} ms", r.latency_ms), detail]
        })
        .collect();
    let headers = ["ASSISTANT", "CASE", "RESULT", "LATENCY", "DETAIL"];
    let mut widths = headers.map(str::len);
    for row in &rows {
        for (i, cell) in row.iter().enumerate().take(4) {
            widths[i] = widths[i].max(cell.chars().count());
        }
    }
    let used: usize = widths[..4].iter().map(|w| w + 2).sum();
    let detail_width = width.saturating_sub(used).max(20);
    let line = |cells: [&str; 5]| {
        let mut out = String::new();
        for (i, cell) in cells.iter().enumerate().take(4) {
            out.push_str(&format!("{cell:<w$}  ", w = widths[i]));
        }
        out.push_str(&crate::testing::expect::shorten(cells[4], detail_width));
        out.trim_end().to_string() + "\n"
    };
    let mut out = line(headers);
    for row in &rows {
        let cells = [row[0].as_str(), row[1].as_str(), row[2].as_str(), row[3].as_str(), row[4].as_str()];
        out.push_str(&line(cells));
    }
    out
}

/// JUnit XML: a suite per assistant, a test case per case.
fn junit(label: &str, results: &[CaseResult]) -> String {
    use quick_junit::{NonSuccessKind, Report, TestCase, TestCaseStatus, TestSuite};
    let mut report = Report::new(format!("stagecraft test {label}"));
    let mut suites: Vec<TestSuite> = Vec::new();
    for result in results {
        if suites.last().is_none_or(|s| s.name.as_str() != result.assistant) {
            suites.push(TestSuite::new(result.assistant.clone()));
        }
        let status = match &result.outcome {
            Outcome::Passed => TestCaseStatus::success(),
            Outcome::Failed { failure } => {
                let mut status = TestCaseStatus::non_success(NonSuccessKind::Failure);
                status.set_message(failure.describe()).set_type(failure.expectation.clone());
                status
            }
            Outcome::Error { error } => {
                let mut status = TestCaseStatus::non_success(NonSuccessKind::Error);
                status.set_message(error.clone());
                status
            }
        };
        let mut case = TestCase::new(result.case.clone(), status);
        case.set_classname(result.assistant.clone()).set_time(Duration::from_millis(result.latency_ms));
        suites.last_mut().expect("pushed above").add_test_case(case);
    }
    report.add_test_suites(suites);
    report.to_string().expect("the report serializes")
}
