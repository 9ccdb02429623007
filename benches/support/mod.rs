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
