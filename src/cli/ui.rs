//! The one door for output: human text or JSON on stdout, errors on stderr as
//! `error: …` / indented details / `hint: …`, or as the JSON error object with `--json`.
//! Colour only on a terminal, never with `NO_COLOR` or `--no-color`.

use std::io::Write;

use anstyle::{AnsiColor, Style};
use serde::Serialize;

use crate::error::Error;

pub struct Ui {
    pub json: bool,
    /// Colour on stderr.
    color: bool,
    /// Colour on stdout.
    stdout_color: bool,
    stdout_terminal: bool,
}

impl Ui {
    pub fn new(json: bool, no_color: bool, no_color_env: bool) -> Ui {
        let allowed = !no_color && !no_color_env;
        let color = allowed && std::io::IsTerminal::is_terminal(&std::io::stderr());
        let stdout_terminal = std::io::IsTerminal::is_terminal(&std::io::stdout());
        Ui { json, color, stdout_color: allowed && stdout_terminal, stdout_terminal }
    }

    pub fn stdout_is_terminal(&self) -> bool {
        self.stdout_terminal
    }

    /// Whether stdout may carry ANSI colour.
    pub fn stdout_color(&self) -> bool {
        self.stdout_color
    }

    /// Prints text as is, whatever the mode (a rendering chosen by the user).
    pub fn print(&self, text: &str) {
        let _ = std::io::stdout().lock().write_all(text.as_bytes());
    }

    /// Prints text for people (nothing in JSON mode).
    pub fn text(&self, text: &str) {
        if !self.json {
            let mut out = std::io::stdout().lock();
            let _ = out.write_all(text.as_bytes());
            if !text.ends_with('\n') {
                let _ = out.write_all(b"\n");
            }
        }
    }

    /// Prints a JSON value (only in JSON mode).
    pub fn json<T: Serialize>(&self, value: &T) {
        if self.json {
            let text = serde_json::to_string_pretty(value).expect("wire types serialize");
            let _ = writeln!(std::io::stdout().lock(), "{text}");
        }
    }

    /// Lines a person should see whatever the output format, on stderr.
    pub fn notes(&self, lines: &[String]) {
        let mut stderr = std::io::stderr().lock();
        for line in lines {
            let _ = writeln!(stderr, "{line}");
        }
    }

    /// Prints the error and returns its exit code.
    pub fn error(&self, error: &Error) -> u8 {
        let report = error.report();
        if self.json {
            let text = serde_json::to_string_pretty(&report.to_json()).expect("reports serialize");
            let _ = writeln!(std::io::stdout().lock(), "{text}");
        } else {
            let text = report.render_text();
            let text = if self.color {
                let red = Style::new().bold().fg_color(Some(AnsiColor::Red.into()));
                let cyan = Style::new().fg_color(Some(AnsiColor::Cyan.into()));
                text.replacen("error:", &format!("{red}error:{red:#}"), 1)
                    .replace("\nhint:", &format!("\n{cyan}hint:{cyan:#}"))
            } else {
                text
            };
            let _ = std::io::stderr().lock().write_all(text.as_bytes());
        }
        report.code.exit_code()
    }
}
