//! What the end-to-end benchmarks share.

/// The resident set of a process, in KiB (`VmRSS` of `/proc/PID/status`).
#[allow(dead_code)]
pub fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

/// The files of a repository of 50 assistants, each with 2,000 lines of instructions and
/// 200 tools (10,051 files).
#[allow(dead_code)]
pub fn large_repository_files() -> Vec<(String, Vec<u8>)> {
    let mut files = vec![("channels.toml".to_string(), b"# none\n".to_vec())];
    for a in 0..50 {
        let dir = format!("assistants/bot-{a:02}");
        files.push((
            format!("{dir}/assistant.toml"),
            format!("name = \"Bot {a}\"\n[model]\nname = \"m\"\n").into_bytes(),
        ));
        files.push((
            format!("{dir}/instructions.md"),
            (0..2000).map(|l| format!("Rule {l}: be kind.\n")).collect::<String>().into_bytes(),
        ));
        for t in 0..200 {
            files.push((
                format!("{dir}/tools/tool_{t:03}.toml"),
                format!("description = \"Tool {t}\"\n[parameters]\ntype = \"object\"\n").into_bytes(),
            ));
        }
    }
    files
}

/// A bare repository made by `init` from [`large_repository_files`] in `dir`, opened,
/// and the identity it was made with.
#[allow(dead_code)]
pub fn large_repository(dir: &std::path::Path) -> (stagecraft::store::Store, stagecraft::identity::Identity) {
    use stagecraft::identity::{Identity, Person, When};
    use stagecraft::ops::{InitOptions, InitSource, init};
    let person = Person { name: "bench".into(), email: "bench@example.com".into() };
    let when = When { seconds: 1_700_000_000, offset_minutes: 0 };
    let identity = Identity { author: person.clone(), author_time: when, committer: person, committer_time: when };
    let content = large_repository_files();
    let (snapshot, blobs) = stagecraft::store::memory_tree(content.iter().map(|(p, b)| (p.clone(), b.as_slice())));
    let path = dir.join("repo");
    let options = InitOptions {
        dir: path.clone(),
        source: InitSource::Memory { origin: "bench".into(), snapshot, blobs },
        environments: None,
        protected: None,
        bare: true,
    };
    init(options, &identity).expect("init");
    (stagecraft::store::Store::open(&path).expect("open"), identity)
}
