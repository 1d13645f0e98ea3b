//! `twofold __generate-docs DIR`: twofold(8) and the shell completions, from the same clap
//! definitions as `--help`, so the packaged page can never describe other options than the
//! command has. Run by scripts/package at build time; hidden (not a subcommand, not in --help).
#![forbid(unsafe_code)]

use super::Cli;
use clap::CommandFactory;
use clap_complete::Shell;
use std::ffi::OsString;
use std::fs;
use std::io::{self, Write as _};
use std::path::Path;
use std::process::ExitCode;

/// The hidden first argument that asks for the documents instead of running a command.
const TRIGGER: &str = "__generate-docs";

/// If the command line is `twofold __generate-docs DIR`, writes `DIR/man/twofold.8` and
/// `DIR/completions/{twofold.bash,_twofold,twofold.fish}` and returns the exit code.
pub fn generate_if_asked() -> Option<ExitCode> {
    let mut args = std::env::args_os().skip(1);
    if args.next().as_deref() != Some(OsString::from(TRIGGER).as_os_str()) {
        return None;
    }
    let Some(dir) = args.next() else {
        eprintln!("usage: twofold {TRIGGER} DIR");
        return Some(ExitCode::from(2));
    };
    match generate(Path::new(&dir)) {
        Ok(()) => Some(ExitCode::SUCCESS),
        Err(e) => {
            eprintln!("twofold: {}: {e}", Path::new(&dir).display());
            Some(ExitCode::FAILURE)
        }
    }
}

fn generate(dir: &Path) -> io::Result<()> {
    let man = dir.join("man");
    let completions = dir.join("completions");
    fs::create_dir_all(&man)?;
    fs::create_dir_all(&completions)?;
    fs::write(man.join("twofold.8"), manual_page()?)?;
    for (shell, file) in [
        (Shell::Bash, "twofold.bash"),
        (Shell::Zsh, "_twofold"),
        (Shell::Fish, "twofold.fish"),
    ] {
        let mut out = Vec::new();
        clap_complete::generate(shell, &mut Cli::command(), "twofold", &mut out);
        fs::write(completions.join(file), out)?;
    }
    Ok(())
}

/// twofold(8): the top-level page, then every subcommand with its synopsis and options.
fn manual_page() -> io::Result<Vec<u8>> {
    let mut cmd = Cli::command().disable_help_subcommand(true);
    cmd.build();
    let version = cmd.get_version().unwrap_or_default().to_string();
    let top = clap_mangen::Man::new(cmd.clone())
        .section("8")
        .source(format!("twofold {version}"))
        .manual("System Administration");
    let mut out = Vec::new();
    top.render_title(&mut out)?;
    top.render_name_section(&mut out)?;
    top.render_synopsis_section(&mut out)?;
    out.write_all(DESCRIPTION.as_bytes())?;
    top.render_options_section(&mut out)?;
    out.write_all(b".SH COMMANDS\n")?;
    for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
        let page = clap_mangen::Man::new(sub.clone()).section("8");
        writeln!(out, ".SS \"twofold {}\"", sub.get_name())?;
        let mut synopsis = Vec::new();
        page.render_synopsis_section(&mut synopsis)?;
        out.write_all(&without_heading(&synopsis))?;
        if let Some(about) = sub.get_long_about().or(sub.get_about()) {
            writeln!(out, ".PP\n{}", escape(&about.to_string()))?;
        }
        if sub.get_arguments().any(|a| !a.is_hide_set()) {
            let mut options = Vec::new();
            page.render_options_section(&mut options)?;
            out.write_all(&without_heading(&options))?;
        }
    }
    out.write_all(TRAILER.as_bytes())?;
    Ok(out)
}

/// A section rendered by clap_mangen without its `.SH` line, to sit under a `.SS` of its own.
fn without_heading(section: &[u8]) -> Vec<u8> {
    let text = String::from_utf8_lossy(section);
    let mut kept = String::new();
    for line in text.lines().filter(|l| !l.starts_with(".SH ")) {
        kept.push_str(line);
        kept.push('\n');
    }
    kept.into_bytes()
}

/// Text for roff: a leading `.` or `'` would be read as a request, `\` as an escape.
fn escape(text: &str) -> String {
    text.lines()
        .map(|l| {
            let l = l.replace('\\', "\\e");
            if l.starts_with('.') || l.starts_with('\'') {
                format!("\\&{l}")
            } else {
                l
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
}

const DESCRIPTION: &str = r#".SH DESCRIPTION
\fBtwofold\fR enrolls users for the \fBpam_twofold\fR(8) second factor (a TOTP code from an
authenticator app, recovery codes, push approval on a phone), shows and resets their state,
validates the configuration \fBtwofold.toml\fR(5), and runs the push approval service.
It is run by root: the records it writes under \fI/var/lib/twofold\fR are root\-owned and
mode 0600, so the protected user cannot read their own key.
"#;

const TRAILER: &str = r#".SH EXIT STATUS
0 on success; 1 on an error, explained in one line on standard error; 2 for a usage error;
\fBtwofold status\fR exits 3 when the user is not enrolled.
.SH FILES
.TP
.I /etc/twofold/twofold.toml
configuration, see \fBtwofold.toml\fR(5)
.TP
.I /etc/twofold/host\-token
the host token for the approval service (root, 0600), with push
.TP
.I /var/lib/twofold/users/
one record per enrolled user (key, parameters, paired phones)
.TP
.I /var/lib/twofold/recovery/
the salted hashes of each user's recovery codes
.TP
.I /var/lib/twofold/state/
what changes at each sign\-in: last accepted step, failures, lockout
.SH EXAMPLES
.nf
twofold enroll alice
twofold status alice \-\-json
twofold unlock alice
pam\-auth\-update \-\-enable twofold
.fi
.SH SEE ALSO
\fBpam_twofold\fR(8), \fBtwofold.toml\fR(5), \fBpam\-auth\-update\fR(8), \fBpamtester\fR(1),
\fBoathtool\fR(1)
"#;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_page_has_every_subcommand_and_every_option() {
        let page = String::from_utf8(manual_page().unwrap()).unwrap();
        let cmd = Cli::command();
        for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
            let heading = format!(".SS \"twofold {}\"", sub.get_name());
            assert!(page.contains(&heading), "no {heading}");
            for arg in sub.get_arguments().filter(|a| !a.is_hide_set()) {
                if let Some(long) = arg.get_long() {
                    // clap_mangen writes options as \-\-name.
                    let option = format!("\\-\\-{}", long.replace('-', "\\-"));
                    assert!(
                        page.contains(&option),
                        "twofold {}: no {option}",
                        sub.get_name()
                    );
                }
            }
        }
        assert!(page.contains("\n.TH twofold 8 "), "no .TH line");
    }

    #[test]
    fn the_trigger_is_not_a_subcommand() {
        assert!(Cli::command().find_subcommand(TRIGGER).is_none());
    }
}
