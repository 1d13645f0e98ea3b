//! What the core asks of the application (sshd, sudo, a test): prompts, messages and the
//! stacked password. The PAM adapter implements it over libpam; tests implement it in memory.
#![forbid(unsafe_code)]

use crate::secret::SecretString;

/// The conversation failed (the user hung up, the application has no conversation, ...).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("conversation failed: {0}")]
pub struct ConversationError(pub String);

/// The application side of a sign-in.
pub trait Conversation {
    /// Asks a question whose answer is not echoed.
    fn ask_hidden(&mut self, prompt: &str) -> Result<SecretString, ConversationError>;
    /// Asks a question whose answer is echoed (used where the text matters more than secrecy,
    /// e.g. a confirmation code during enrollment, "press Enter").
    fn ask_visible(&mut self, prompt: &str) -> Result<SecretString, ConversationError>;
    /// Shows a message.
    fn info(&mut self, text: &str);
    /// Shows an error message.
    fn error(&mut self, text: &str);
    /// The answer a previous module in the stack obtained (PAM_AUTHTOK), if any.
    fn stacked_authtok(&self) -> Option<SecretString>;
    /// Hands a password on to the next modules (PAM_AUTHTOK).
    fn set_authtok(&mut self, value: &SecretString) -> Result<(), ConversationError>;
    /// Asks the application to delay a failure by at least this long.
    fn fail_delay(&mut self, millis: u64);
}
