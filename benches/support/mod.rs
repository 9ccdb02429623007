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

/// A bare repository: the init commit (v1) on every branch, then `commits` commits on
/// sandbox, each changing one file; every `every`-th is a tagged publish, the others
/// plain commits without trailers.
#[allow(dead_code)]
pub fn fast_import_repository(path: &std::path::Path, commits: usize, every: usize) {
    use std::io::Write;
    use std::process::{Command, Stdio};
    let status =
        Command::new("git").args(["init", "-q", "--bare", "-b", "draft"]).arg(path).status().expect("git init");
    assert!(status.success());
    let mut child = Command::new("git")
        .current_dir(path)
        .args(["fast-import", "--quiet"])
        .stdin(Stdio::piped())
        .spawn()
        .expect("fast-import");
    let mut stream = std::io::BufWriter::new(child.stdin.take().expect("stdin"));
    let data = |stream: &mut dyn Write, text: &str| {
        write!(stream, "data {}\n{text}\n", text.len()).expect("write");
    };
    let init = "Initialize stagecraft: v1\n\nStagecraft-Action: init\nStagecraft-Actor: Bench <bench@example.com>\nStagecraft-Version: 1\nStagecraft-Chain: draft sandbox pre-release live\nStagecraft-Protected: live\nStagecraft-Holds:\n";
    writeln!(stream, "commit refs/heads/sandbox\nmark :1\ncommitter Bench <bench@example.com> 1700000000 +0000")
        .expect("write");
    data(&mut stream, init);
    writeln!(stream, "M 100644 inline channels.toml").expect("write");
    data(&mut stream, "# bindings\n");
    writeln!(stream, "tag v1\nfrom :1\ntagger Bench <bench@example.com> 1700000000 +0000").expect("write");
    data(&mut stream, "initial version\n");
    let mut version = 1;
    for n in 2..=commits + 1 {
        let time = 1_700_000_000 + n as u64 * 60;
        let publish = n % every == 0;
        let message = if publish {
            version += 1;
            let summary = format!("bot-{}: instructions +1 −1 lines", n % 50);
            format!(
                "Publish v{version}\n\nchange {n}\n\nSummary: {summary}\n\nStagecraft-Action: publish\nStagecraft-Environment: sandbox\nStagecraft-Actor: Bench <bench@example.com>\nStagecraft-Version: {version}\nStagecraft-Holds:\n"
            )
        } else {
            format!("Edit rule {n} (#{n})\n")
        };
        writeln!(stream, "commit refs/heads/sandbox\nmark :{n}\ncommitter Bench <bench@example.com> {time} +0000")
            .expect("write");
        data(&mut stream, &message);
        writeln!(stream, "M 100644 inline assistants/bot-{:02}/instructions.md", n % 50).expect("write");
        data(&mut stream, &format!("Rule {n}.\n"));
        if publish {
            writeln!(stream, "tag v{version}\nfrom :{n}\ntagger Bench <bench@example.com> {time} +0000")
                .expect("write");
            data(&mut stream, &format!("change {n}\n\nbot-{}: instructions +1 −1 lines\n", n % 50));
        }
    }
    for branch in ["draft", "pre-release", "live"] {
        writeln!(stream, "reset refs/heads/{branch}\nfrom :1\n").expect("write");
    }
    drop(stream);
    assert!(child.wait().expect("fast-import").success());
    let status = Command::new("git").current_dir(path).args(["pack-refs", "--all"]).status().expect("pack-refs");
    assert!(status.success());
}

/// The median of `runs` timings of `f`, after one run to warm up.
#[allow(dead_code)]
pub fn median(runs: usize, mut f: impl FnMut()) -> std::time::Duration {
    f();
    let mut times: Vec<std::time::Duration> = (0..runs)
        .map(|_| {
            let start = std::time::Instant::now();
            f();
            start.elapsed()
        })
        .collect();
    times.sort();
    times[runs / 2]
}
