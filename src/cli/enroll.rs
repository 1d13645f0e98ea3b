//! `twofold enroll USER`: QR code and key, confirmation code, recovery codes.
#![forbid(unsafe_code)]

use super::terminal::{ask, grouped};
use super::{CliResult, open_store, user_name};
use std::process::ExitCode;
use twofold_core::clock::Clock;
use twofold_core::config::Config;
use twofold_core::enrollment::{self, EnrollOptions, Pending};
use twofold_core::factor::totp::{Algorithm, normalize_base32};
use twofold_core::messages::{self, Texts};
use twofold_core::qr::{self, QrStyle};
use twofold_core::secret::SecretString;
use twofold_core::username::UserName;

/// Attempts at typing the confirmation code before giving up.
const ATTEMPTS: usize = 3;

#[derive(clap::Args, Debug)]
pub struct EnrollArgs {
    /// The user to enroll.
    user: String,
    /// Save without asking for a code from the app (scripts, migrations).
    #[arg(long)]
    no_verify: bool,
    /// Use this base32 key instead of a fresh random one (visible in `ps`: prefer a fresh key).
    #[arg(long, value_name = "BASE32")]
    secret: Option<String>,
    /// HMAC algorithm: SHA1 (every app), SHA256, SHA512.
    #[arg(long)]
    algorithm: Option<Algorithm>,
    /// Digits per code (6-8).
    #[arg(long)]
    digits: Option<u8>,
    /// Seconds per code.
    #[arg(long)]
    period: Option<u32>,
    /// Print the result as JSON (key, otpauth URI, recovery codes) on stdout.
    #[arg(long)]
    json: bool,
    /// How to draw the QR code: ansi (works on dark and light terminals), utf8 (dark
    /// terminals), light (light terminals), none (the key in text only).
    #[arg(long, default_value = "ansi")]
    qr: QrStyle,
    /// Replace an existing enrollment, or enroll a name this system does not know (yet).
    #[arg(long)]
    force: bool,
    /// The user's language for prompts and messages (en, nl); also the language of these
    /// screens. Default: the configuration's.
    #[arg(long, value_name = "LANG")]
    language: Option<String>,
    /// Pair a phone for push approval (the user must be enrolled already), then send a test push.
    #[arg(long, conflicts_with_all = ["no_verify", "secret", "algorithm", "digits", "period", "json", "force", "language"])]
    push: bool,
}

pub fn run(config: &Config, args: EnrollArgs, clock: &dyn Clock) -> CliResult {
    let mut t = super::language::texts(config);
    let user = user_name(&args.user)?;
    let language = match args.language.as_deref().map(str::trim) {
        None => None,
        Some(code) if messages::is_known(code) => {
            t = Texts::for_language(code);
            Some(t.language().to_string())
        }
        Some(code) => {
            let known: Vec<&str> = messages::languages().collect();
            return Err(t.fill(
                "cli.language_unknown",
                &[("language", code), ("known", &known.join(", "))],
            ));
        }
    };
    if args.push {
        return super::push::enroll(config, &user, args.qr, clock);
    }
    // A typo ("alcie") would otherwise make a record nobody signs in with.
    if !args.force && !twofold_core::signin::policy::account_exists(user.as_str()) {
        return Err(format!(
            "{user}: no such account on this system (getpwnam found none); check the name, \
             or use --force to enroll it anyway (an account from a directory not yet visible here)"
        ));
    }
    let store = open_store(config)?;
    let fleet = super::fleet::Fleet::open(config)?;
    if let Some(fleet) = &fleet {
        fleet.pull(&store, &user)?;
    }
    if store
        .load_record(&user)
        .map_err(|e| e.to_string())?
        .is_some()
        && !args.force
    {
        return Err(format!(
            "{user} is already enrolled; run `twofold reset {user}` first, or use --force"
        ));
    }
    let secret = match &args.secret {
        Some(text) => Some(normalize_base32(text).ok_or("--secret is not a valid base32 key")?),
        None => None,
    };
    let opts = EnrollOptions {
        secret,
        algorithm: args.algorithm,
        digits: args.digits,
        period: args.period,
        skew: None,
    };
    let mut pending = enrollment::prepare(config, opts, clock).map_err(|e| e.to_string())?;
    pending.record.language = language;
    let uri = pending
        .record
        .totp
        .otpauth_uri(&config.issuer, user.as_str());
    if !args.json {
        show_setup(&user, &pending, &uri, args.qr, t)?;
    }
    let confirmed = if args.no_verify {
        None
    } else {
        Some(confirm(config, &pending, clock, t)?)
    };
    // The recovery codes are shown before anything is saved: if they cannot be written
    // (`twofold enroll alice | head`, a closed terminal), nothing is saved either.
    let shown = if args.json {
        let codes: Vec<&str> = pending.recovery_codes.iter().map(|c| c.expose()).collect();
        let totp = &pending.record.totp;
        let out = serde_json::json!({
            "user": user.as_str(),
            "secret": totp.secret.expose(),
            "otpauth_uri": uri,
            "algorithm": totp.algorithm.to_string(),
            "digits": totp.digits,
            "period": totp.period,
            "recovery_codes": codes,
        });
        format!("{out}\n")
    } else {
        recovery_codes_text(&pending.recovery_codes, t)
    };
    write_stdout(&shown)
        .map_err(|e| format!("cannot show the recovery codes ({e}); nothing was saved"))?;
    // One rename commits key and recovery codes together; on failure, say which is in force.
    if let Some(fleet) = &fleet {
        // The fleet's copy is the enrollment: uploaded first, then cached here.
        fleet
            .publish(&store, &user, &enrollment::committed(&pending, confirmed))
            .map_err(|e| {
                format!(
                    "{e}; nothing was saved, the key and recovery codes shown above do NOT work"
                )
            })?;
    } else if let Err(e) = enrollment::save(&store, &user, &pending, confirmed) {
        return Err(save_failed(&store, &user, &pending, &e));
    }
    if !args.json {
        let _ = write_stdout(&format!(
            "\n{}\n",
            t.fill("cli.enroll_saved", &[("user", user.as_str())])
        ));
    }
    Ok(ExitCode::SUCCESS)
}

/// What a failed enrollment save means for the user, read back from the disk.
pub fn save_failed(
    store: &twofold_core::store::UserStore,
    user: &UserName,
    pending: &Pending,
    e: &twofold_core::store::StoreError,
) -> String {
    use enrollment::InForce;
    let state = match enrollment::in_force(store, user, pending) {
        InForce::New => format!(
            "the NEW enrollment shown above is in force for {user} (key and recovery codes), but the disk did not confirm the write; check the disk"
        ),
        InForce::Old => format!(
            "nothing was saved: {user}'s previous enrollment (or none) is still in force; the key and recovery codes shown above do NOT work"
        ),
        InForce::Unknown => format!(
            "it cannot be told which enrollment of {user} is in force; run `twofold status {user}` once the disk is fixed"
        ),
    };
    format!("saving failed ({e}): {state}")
}

fn show_setup(
    user: &UserName,
    pending: &Pending,
    uri: &str,
    style: QrStyle,
    t: Texts,
) -> Result<(), String> {
    let totp = &pending.record.totp;
    let (digits, period) = (totp.digits.to_string(), totp.period.to_string());
    let algorithm = totp.algorithm.to_string();
    let parameters = t.fill(
        "cli.enroll_parameters",
        &[
            ("algorithm", &algorithm),
            ("digits", &digits),
            ("period", &period),
        ],
    );
    if style == QrStyle::None {
        // No code drawn: nothing to scan.
        let text = format!(
            "{intro}\n\n{key}\n{parameters}\n\n",
            intro = messages::wrap(&t.fill("cli.enroll_intro_key", &[("user", user.as_str())])),
            key = grouped(totp.secret.expose()),
        );
        return write_stdout(&text)
            .map_err(|e| format!("cannot show the key ({e}); nothing was saved"));
    }
    let key = grouped(totp.secret.expose());
    let text = format!(
        "{intro}\n\n{qr}\n{by_hand}\n{parameters}\n\n",
        intro = messages::wrap(&t.fill("cli.enroll_intro_qr", &[("user", user.as_str())])),
        qr = qr::render(uri, style).map_err(|e| e.to_string())?,
        by_hand = t.fill("cli.enroll_key_by_hand", &[("key", &key)]),
    );
    write_stdout(&text).map_err(|e| format!("cannot show the QR code ({e}); nothing was saved"))
}

/// Asks for the code the app now shows; nothing is saved until one is right.
fn confirm(config: &Config, pending: &Pending, clock: &dyn Clock, t: Texts) -> Result<u64, String> {
    for attempt in 1..=ATTEMPTS {
        let code = ask(t.get("cli.enroll_code_prompt")).ok_or(t.get("cli.enroll_no_code"))?;
        if let Some(step) = enrollment::confirm(pending, &code, config, clock) {
            return Ok(step);
        }
        if attempt < ATTEMPTS {
            eprintln!("{}", t.get("cli.enroll_wrong_code"));
        }
    }
    Err(t.fill("cli.enroll_gave_up", &[("attempts", &ATTEMPTS.to_string())]))
}

/// Recovery codes with the instructions that go with them.
pub fn recovery_codes_text(codes: &[SecretString], t: Texts) -> String {
    let mut text = format!("\n{}\n", t.get("cli.recovery_codes"));
    for code in codes {
        text.push_str(&format!("    {}\n", code.expose()));
    }
    text
}

/// Writes to stdout and flushes, reporting (not panicking on) a closed pipe or terminal.
pub fn write_stdout(text: &str) -> std::io::Result<()> {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    out.write_all(text.as_bytes())?;
    out.flush()
}
