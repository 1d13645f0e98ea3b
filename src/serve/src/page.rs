//! The phone page: static files from `web/`, compiled into the binary, served with a strict
//! Content-Security-Policy (scripts and styles from files of this origin only, no framing).
#![forbid(unsafe_code)]

use axum::http::{HeaderValue, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use twofold_core::messages::{self, Texts};

/// One file of the page.
pub struct PageFile {
    /// Request path.
    pub path: &'static str,
    pub content_type: &'static str,
    pub body: &'static [u8],
}

/// A file from `web/`, compiled in.
macro_rules! web_file {
    ($path:literal, $file:literal, $type:literal) => {
        PageFile {
            path: $path,
            content_type: $type,
            body: include_bytes!(concat!(env!("CARGO_MANIFEST_DIR"), "/../../web/", $file)),
        }
    };
}

/// Every file of the page.
macro_rules! web_files {
    () => {
        &[
            web_file!("/", "index.html", "text/html; charset=utf-8"),
            web_file!("/pair", "index.html", "text/html; charset=utf-8"),
            web_file!("/index.html", "index.html", "text/html; charset=utf-8"),
            web_file!("/app.js", "app.js", "text/javascript; charset=utf-8"),
            web_file!(
                "/protocol.js",
                "protocol.js",
                "text/javascript; charset=utf-8"
            ),
            web_file!("/sw.js", "sw.js", "text/javascript; charset=utf-8"),
            web_file!("/style.css", "style.css", "text/css; charset=utf-8"),
            web_file!(
                "/manifest.webmanifest",
                "manifest.webmanifest",
                "application/manifest+json"
            ),
            web_file!("/icon.svg", "icon.svg", "image/svg+xml"),
            web_file!("/icon-192.png", "icon-192.png", "image/png"),
            web_file!("/icon-512.png", "icon-512.png", "image/png"),
            web_file!("/apple-touch-icon.png", "apple-touch-icon.png", "image/png"),
        ]
    };
}

/// The files served: the page from `web/`.
pub const FILES: &[PageFile] = web_files!();

const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; \
img-src 'self' data:; connect-src 'self'; manifest-src 'self'; worker-src 'self'; \
frame-ancestors 'none'; base-uri 'none'; form-action 'none'";

/// The page's texts: `/texts.json`, `{"en": {key: text, ...}, "nl": {...}}`, from the same
/// catalogues as the module's and the command's (the `[phone]` tables of src/core/locales/).
pub const TEXTS_PATH: &str = "/texts.json";

fn texts_json() -> &'static [u8] {
    static JSON: std::sync::OnceLock<Vec<u8>> = std::sync::OnceLock::new();
    JSON.get_or_init(|| {
        let all: serde_json::Map<String, serde_json::Value> = messages::languages()
            .map(|language| {
                let texts: serde_json::Map<String, serde_json::Value> =
                    Texts::for_language(language)
                        .section("phone.")
                        .into_iter()
                        .map(|(key, text)| (key.to_string(), text.into()))
                        .collect();
                (language.to_string(), texts.into())
            })
            .collect();
        serde_json::to_vec(&all).unwrap_or_default()
    })
}

/// Answers a GET for one of [`FILES`], or for [`TEXTS_PATH`].
pub async fn serve(uri: Uri) -> Response {
    let (body, content_type) = if uri.path() == TEXTS_PATH {
        (texts_json(), "application/json")
    } else {
        match FILES.iter().find(|f| f.path == uri.path()) {
            Some(file) => (file.body, file.content_type),
            None => return StatusCode::NOT_FOUND.into_response(),
        }
    };
    let mut response = body.into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    // Revalidate every time, so a new version of the page (and its service worker) is picked up.
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_page_path_is_listed_once_and_root_is_html() {
        for (i, f) in FILES.iter().enumerate() {
            assert!(f.path.starts_with('/'));
            assert!(
                FILES[..i].iter().all(|g| g.path != f.path),
                "{} twice",
                f.path
            );
        }
        let root = FILES.iter().find(|f| f.path == "/").expect("/ is served");
        assert!(root.content_type.starts_with("text/html"));
        assert!(FILES.iter().all(|f| f.path != TEXTS_PATH));
    }

    #[test]
    fn the_page_texts_hold_every_language_with_every_key() {
        let json: serde_json::Value = serde_json::from_slice(texts_json()).unwrap();
        let en = json["en"].as_object().unwrap();
        let nl = json["nl"].as_object().unwrap();
        assert_eq!(en["approve"], "Approve");
        assert_eq!(nl["approve"], "Goedkeuren");
        assert_eq!(en.len(), nl.len());
        assert!(en.len() > 50, "{}", en.len());
    }
}
