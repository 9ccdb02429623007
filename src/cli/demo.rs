//! `stagecraft demo`: a throwaway config repository made from the example embedded in
//! the binary, its status, and the next commands to try.

use std::path::PathBuf;

use super::Context;
use super::ui::Ui;
use crate::error::Error;
use crate::identity::{Identity, Person};
use crate::ops::{self, InitOptions, InitSource};
use crate::store::Store;

/// Make a throwaway config repository from the bundled example and show what to try next
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Where to create it: a new or empty directory [default: a new temporary directory]
    #[arg(long, value_name = "DIR")]
    dir: Option<PathBuf>,
}

pub fn run(args: Args, context: &Context, ui: &Ui) -> Result<u8, Error> {
    let dir = match args.dir {
        Some(dir) => context.cwd.join(dir),
        None => tempfile::Builder::new()
            .prefix("stagecraft-demo-")
            .tempdir()
            .map_err(Error::io("create a temporary directory in", std::env::temp_dir()))?
            .keep(),
    };
    let identity = context.identity(None).unwrap_or_else(|_| demo_identity());
    let (snapshot, blobs) = crate::example::snapshot();
    let source = InitSource::Memory { origin: "the bundled example".into(), snapshot, blobs };
    let initialized = ops::init(
        InitOptions { dir: dir.clone(), source, environments: None, protected: None, bare: false },
        &identity,
    )?;
    let store = Store::open(&dir)?;
    let status = ops::status(&store)?;
    ui.json(&serde_json::json!({"initialized": initialized, "status": status}));
    let exe = std::env::current_exe().map(|p| p.display().to_string()).unwrap_or_else(|_| "stagecraft".into());
    ui.text(&format!(
        "{}\n{}\nNext:\n\
         \x20 alias stagecraft={exe}\n\
         \x20 cd {dir}\n\
         \x20 sed -i 's/temperature = 0.3/temperature = 0.5/' assistants/support-bot/assistant.toml\n\
         \x20 git commit -qam \"Warmer answers\"\n\
         \x20 stagecraft diff                          # what a publish would change, field by field\n\
         \x20 stagecraft publish -m \"warmer answers\"   # v2 on sandbox\n\
         \x20 stagecraft promote v2 --to pre-release\n\
         \x20 stagecraft promote v2 --to live --yes    # live is protected\n\
         \x20 stagecraft rollback live --yes           # back to v1; v2 goes on hold in live\n\
         \x20 stagecraft history                       # who did what, when\n",
        super::init::render(&initialized),
        super::status::render(&status),
        dir = dir.display(),
    ));
    Ok(0)
}

/// Used when no identity is configured, so the demo runs on a fresh machine.
fn demo_identity() -> Identity {
    let person = Person { name: "stagecraft demo".into(), email: "demo@stagecraft.invalid".into() };
    let now = crate::identity::When::from_timestamp(jiff::Timestamp::now());
    Identity { author: person.clone(), author_time: now, committer: person, committer_time: now }
}
