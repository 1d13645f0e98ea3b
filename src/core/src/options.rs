//! The module's arguments from the pam.d line.
#![forbid(unsafe_code)]

use std::path::PathBuf;

/// How the code is obtained, from the `*_pass` arguments.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum PassMode {
    /// Prompt for the code.
    #[default]
    Prompt,
    /// Try the previous module's answer as the code; prompt if it is not a valid code.
    TryFirstPass,
    /// Only the previous module's answer; never prompt.
    UseFirstPass,
    /// One prompt for password and code typed together; the password is passed on.
    ForwardPass,
}

/// Parsed module arguments.
#[derive(Debug, Clone, Default)]
pub struct ModuleOptions {
    /// `config=PATH`.
    pub config: Option<PathBuf>,
    /// `nullok`: users without a record are ignored without a prompt.
    pub nullok: bool,
    pub pass_mode: PassMode,
    /// `prompt=TEXT` (use `[prompt=Text with spaces: ]` in pam.d).
    pub prompt: Option<String>,
    /// `debug`: extra log lines (never secrets).
    pub debug: bool,
    /// `require_group=a,b`: for this service, only members need the second factor
    /// (replaces the configuration's `policy.require_groups`).
    pub require_groups: Option<Vec<String>>,
    /// `exempt_group=a,b`: for this service, members never need it (replaces `policy.exempt_groups`).
    pub exempt_groups: Option<Vec<String>>,
    /// `methods=app,push,sms`: what this service offers besides app and recovery codes (which
    /// are always accepted); `None`: everything configured.
    pub methods: Option<Vec<crate::signin::choice::Choice>>,
    /// Arguments not understood, for a warning in the log.
    pub unknown: Vec<String>,
}

impl ModuleOptions {
    /// Parses the arguments as libpam hands them over.
    pub fn parse<S: AsRef<str>>(args: &[S]) -> Self {
        let mut o = ModuleOptions::default();
        for arg in args {
            let arg = arg.as_ref();
            match arg.split_once('=') {
                Some(("config", v)) if !v.is_empty() => o.config = Some(PathBuf::from(v)),
                Some(("prompt", v)) => o.prompt = Some(v.to_string()),
                Some(("require_group", v)) => o
                    .require_groups
                    .get_or_insert_with(Vec::new)
                    .extend(list(v)),
                Some(("methods", v)) => {
                    let (known, unknown) = crate::signin::choice::parse_list(v);
                    o.methods.get_or_insert_with(Vec::new).extend(known);
                    o.unknown
                        .extend(unknown.into_iter().map(|m| format!("methods={m}")));
                }
                Some(("exempt_group", v)) => {
                    o.exempt_groups.get_or_insert_with(Vec::new).extend(list(v))
                }
                None if arg == "nullok" => o.nullok = true,
                None if arg == "debug" => o.debug = true,
                None if arg == "try_first_pass" => o.pass_mode = PassMode::TryFirstPass,
                None if arg == "use_first_pass" => o.pass_mode = PassMode::UseFirstPass,
                None if arg == "forward_pass" => o.pass_mode = PassMode::ForwardPass,
                _ => o.unknown.push(arg.to_string()),
            }
        }
        o
    }
}

fn list(v: &str) -> impl Iterator<Item = String> + '_ {
    v.split(',').filter(|g| !g.is_empty()).map(str::to_string)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arguments_are_understood() {
        let o = ModuleOptions::parse(&[
            "config=/tmp/t.toml",
            "nullok",
            "forward_pass",
            "prompt=Code: ",
            "debug",
            "bogus",
        ]);
        assert_eq!(o.config, Some(PathBuf::from("/tmp/t.toml")));
        assert!(o.nullok && o.debug);
        assert_eq!(o.pass_mode, PassMode::ForwardPass);
        assert_eq!(o.prompt.as_deref(), Some("Code: "));
        assert_eq!(o.unknown, vec!["bogus".to_string()]);
        assert!(o.exempt_groups.is_none());
        let o = ModuleOptions::parse(&[
            "exempt_group=deploy,backup",
            "exempt_group=ci",
            "require_group=admins",
        ]);
        assert_eq!(o.exempt_groups.unwrap(), ["deploy", "backup", "ci"]);
        assert_eq!(o.require_groups.unwrap(), ["admins"]);
        let o = ModuleOptions::parse(&["methods=app,push", "methods=fax"]);
        use crate::signin::choice::Choice;
        assert_eq!(o.methods.unwrap(), [Choice::App, Choice::Push]);
        assert_eq!(o.unknown, ["methods=fax"]);
    }
}
