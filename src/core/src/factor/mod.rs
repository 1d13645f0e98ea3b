//! The second factors a user can answer with.
#![forbid(unsafe_code)]

pub mod device;
pub mod pass;
pub mod recovery;
pub mod sms;
pub mod totp;

/// How the user proved the second factor (or tried to), as written in the audit log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    /// A code from an authenticator app.
    Totp,
    /// A one-time recovery code.
    Recovery,
    /// A recent success from the same service and address (`[remember]`).
    Remembered,
    /// Enrollment completed inside this sign-in.
    Enrollment,
    /// Approval on a paired phone.
    Push,
    /// A code sent by text message.
    Sms,
    /// A temporary access pass from an administrator (`twofold pass`), then enrollment.
    Pass,
    /// Not determined (no answer, no record, ...).
    None,
}

impl Method {
    /// The audit log's name for the method.
    pub fn as_str(self) -> &'static str {
        match self {
            Method::Totp => "totp",
            Method::Recovery => "recovery",
            Method::Remembered => "remembered",
            Method::Enrollment => "enrollment",
            Method::Push => "push",
            Method::Sms => "sms",
            Method::Pass => "pass",
            Method::None => "none",
        }
    }
}
