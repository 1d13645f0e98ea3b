//! [`Conversation`] over a libpam handle.

use pam::constants::{
    PAM_ERROR_MSG, PAM_PROMPT_ECHO_OFF, PAM_PROMPT_ECHO_ON, PAM_TEXT_INFO, PamMessageStyle,
};
use pam::conv::Conv;
use pam::items::AuthTok;
use pam::module::PamHandle;
use std::ffi::{CString, c_int, c_uint, c_void};
use twofold_core::conversation::{Conversation, ConversationError};
use twofold_core::secret::SecretString;

const PAM_AUTHTOK: c_int = 6;
const PAM_SUCCESS: c_int = 0;

#[link(name = "pam")]
unsafe extern "C" {
    // pam-bindings offers no way to set PAM_AUTHTOK or request a failure delay.
    fn pam_set_item(pamh: *mut PamHandle, item_type: c_int, item: *const c_void) -> c_int;
    fn pam_fail_delay(pamh: *mut PamHandle, micro_sec: c_uint) -> c_int;
}

/// The application's conversation, reached through the PAM handle.
pub struct PamConversation<'a> {
    pamh: &'a mut PamHandle,
}

impl<'a> PamConversation<'a> {
    pub fn new(pamh: &'a mut PamHandle) -> Self {
        PamConversation { pamh }
    }

    fn send(
        &self,
        style: PamMessageStyle,
        text: &str,
    ) -> Result<Option<SecretString>, ConversationError> {
        let conv = match self.pamh.get_item::<Conv>() {
            Ok(Some(conv)) => conv,
            Ok(None) => return Err(ConversationError("no conversation function".into())),
            Err(code) => return Err(ConversationError(format!("{code:?}"))),
        };
        let reply = conv
            .send(style, text)
            .map_err(|code| ConversationError(format!("{code:?}")))?;
        Ok(reply.map(|bytes| SecretString::from_bytes(bytes.as_bytes().to_vec())))
    }
}

impl Conversation for PamConversation<'_> {
    fn ask_hidden(&mut self, prompt: &str) -> Result<SecretString, ConversationError> {
        self.send(PAM_PROMPT_ECHO_OFF, prompt)?
            .ok_or_else(|| ConversationError("no answer".into()))
    }

    fn ask_visible(&mut self, prompt: &str) -> Result<SecretString, ConversationError> {
        self.send(PAM_PROMPT_ECHO_ON, prompt)?
            .ok_or_else(|| ConversationError("no answer".into()))
    }

    fn info(&mut self, text: &str) {
        let _ = self.send(PAM_TEXT_INFO, text);
    }

    fn error(&mut self, text: &str) {
        let _ = self.send(PAM_ERROR_MSG, text);
    }

    fn stacked_authtok(&self) -> Option<SecretString> {
        let tok = self.pamh.get_item::<AuthTok>().ok().flatten()?;
        Some(SecretString::from_bytes(tok.as_bytes().to_vec()))
    }

    fn set_authtok(&mut self, value: &SecretString) -> Result<(), ConversationError> {
        let c = CString::new(value.expose())
            .map_err(|_| ConversationError("password contains NUL".into()))?;
        // SAFETY: the handle is the live one libpam passed to this module call; libpam copies
        // the NUL-terminated string before returning, so `c` may be dropped afterwards.
        let rc = unsafe {
            pam_set_item(
                std::ptr::from_mut(self.pamh),
                PAM_AUTHTOK,
                c.as_ptr().cast(),
            )
        };
        let mut bytes = c.into_bytes();
        zeroize::Zeroize::zeroize(&mut bytes);
        if rc == PAM_SUCCESS {
            Ok(())
        } else {
            Err(ConversationError(format!("pam_set_item: {rc}")))
        }
    }

    fn fail_delay(&mut self, millis: u64) {
        let micros = c_uint::try_from(millis.saturating_mul(1000)).unwrap_or(c_uint::MAX);
        // SAFETY: the handle is the live one libpam passed to this module call.
        unsafe { pam_fail_delay(std::ptr::from_mut(self.pamh), micros) };
    }
}
