//! Who needs the second factor: group membership against the configured (or per-service) lists.
#![forbid(unsafe_code)]

use std::ffi::CString;

/// Whether this user must give a second factor here.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Requirement {
    Required,
    /// A member of an exempt group.
    ExemptGroup,
    /// `require_groups` is set and the user is in none of them.
    NotInRequiredGroup,
}

/// Decides from the lists and the user's groups (looked up only when a list is non-empty).
pub fn requirement(
    require: &[String],
    exempt: &[String],
    groups: impl FnOnce() -> Vec<String>,
) -> Requirement {
    if require.is_empty() && exempt.is_empty() {
        return Requirement::Required;
    }
    let groups = groups();
    let member = |list: &[String]| groups.iter().any(|g| list.contains(g));
    if member(exempt) {
        Requirement::ExemptGroup
    } else if !require.is_empty() && !member(require) {
        Requirement::NotInRequiredGroup
    } else {
        Requirement::Required
    }
}

/// Whether the system knows this account (NSS: /etc/passwd, LDAP, ...).
pub fn account_exists(user: &str) -> bool {
    matches!(nix::unistd::User::from_name(user), Ok(Some(_)))
}

/// The names of the user's primary and supplementary groups (NSS); empty if the user is unknown.
pub fn groups_of(user: &str) -> Vec<String> {
    let Ok(Some(entry)) = nix::unistd::User::from_name(user) else {
        return Vec::new();
    };
    let Ok(name) = CString::new(user) else {
        return Vec::new();
    };
    let gids = nix::unistd::getgrouplist(&name, entry.gid).unwrap_or_else(|_| vec![entry.gid]);
    gids.into_iter()
        .filter_map(|gid| nix::unistd::Group::from_gid(gid).ok().flatten())
        .map(|group| group.name)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|x| x.to_string()).collect()
    }

    #[test]
    fn exempt_wins_and_require_limits() {
        let groups = || s(&["staff", "deploy"]);
        assert_eq!(
            requirement(&[], &[], || unreachable!("no lookup without lists")),
            Requirement::Required
        );
        assert_eq!(
            requirement(&[], &s(&["deploy"]), groups),
            Requirement::ExemptGroup
        );
        assert_eq!(
            requirement(&s(&["admins"]), &[], groups),
            Requirement::NotInRequiredGroup
        );
        assert_eq!(
            requirement(&s(&["staff"]), &[], groups),
            Requirement::Required
        );
        assert_eq!(
            requirement(&s(&["staff"]), &s(&["deploy"]), groups),
            Requirement::ExemptGroup
        );
    }

    #[test]
    fn root_is_in_group_root() {
        assert!(groups_of("root").contains(&"root".to_string()));
        assert!(groups_of("no-such-user-twofold").is_empty());
        assert!(account_exists("root"));
        assert!(!account_exists("no-such-user-twofold"));
    }
}
