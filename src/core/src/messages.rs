//! User-facing texts: the message catalogues (one per language, [`Texts`]) and the 80-column
//! layout they are shown in.
#![forbid(unsafe_code)]

mod catalogue;

pub use catalogue::{FALLBACK, Texts, is_known, languages, placeholders};

/// Widest line of a message: an 80-column terminal, less a margin.
pub const WIDTH: usize = 78;

/// Room the SSH client takes in front of a prompt's first line: "(user@host) ".
pub const SSH_PREFIX: usize = 24;

/// Wraps `text` at word boundaries to [`WIDTH`] columns (existing line breaks are kept).
pub fn wrap(text: &str) -> String {
    wrap_from(text, 0)
}

/// Like [`wrap`], for a prompt over SSH: the first line leaves room for the client's
/// "(user@host) " in front of it.
pub fn wrap_prompt(text: &str) -> String {
    wrap_from(text, SSH_PREFIX)
}

fn wrap_from(text: &str, first_indent: usize) -> String {
    let mut out = String::new();
    for (i, paragraph) in text.split('\n').enumerate() {
        if i > 0 {
            out.push('\n');
        }
        let mut column = if i == 0 { first_indent } else { 0 };
        for word in paragraph.split(' ').filter(|w| !w.is_empty()) {
            let len = word.chars().count();
            if column > 0 && !out.is_empty() && column + 1 + len > WIDTH {
                out.push('\n');
                column = 0;
            } else if column > 0 && !out.is_empty() && !out.ends_with('\n') {
                out.push(' ');
                column += 1;
            }
            out.push_str(word);
            column += len;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const ENROLL_GAVE_UP: &str = "That code is not right either, so nothing was saved. Delete \
the entry from your app: your next sign-in shows a new key and QR code.";

    #[test]
    fn wrap_breaks_at_word_boundaries_within_78_columns() {
        let text = wrap(ENROLL_GAVE_UP);
        assert!(text.lines().count() >= 2, "{text}");
        assert!(text.lines().all(|l| l.chars().count() <= WIDTH), "{text}");
        assert_eq!(text.replace('\n', " "), ENROLL_GAVE_UP);
    }

    #[test]
    fn wrap_prompt_leaves_room_for_the_ssh_prefix_on_the_first_line() {
        let text = wrap_prompt(ENROLL_GAVE_UP);
        let first = text.lines().next().unwrap();
        assert!(first.chars().count() + SSH_PREFIX <= WIDTH, "{text}");
        assert_eq!(text.replace('\n', " "), ENROLL_GAVE_UP);
        // Existing line breaks stay.
        assert_eq!(wrap("a\nb"), "a\nb");
    }
}
