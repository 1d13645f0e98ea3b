//! Embeds every message catalogue in `locales/` (one `<language>.toml` each), so adding a
//! language is adding a file. The catalogues are flattened at build time into one text and sorted
//! tables of byte ranges into it: a sign-in looks texts up without parsing anything, and loading
//! the module costs no relocation per text.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;

fn main() {
    let dir = Path::new("locales");
    println!("cargo:rerun-if-changed=locales");
    let mut languages = BTreeMap::new();
    for entry in std::fs::read_dir(dir).expect("src/core/locales is readable") {
        let path = entry.expect("src/core/locales is readable").path();
        if path.extension().and_then(|e| e.to_str()) != Some("toml") {
            continue;
        }
        println!("cargo:rerun-if-changed={}", path.display());
        let language = path
            .file_stem()
            .and_then(|s| s.to_str())
            .expect("catalogue names are UTF-8")
            .to_string();
        assert!(
            !language.is_empty() && language.bytes().all(|b| b.is_ascii_lowercase()),
            "{}: a catalogue is named by its language code in lower case (en.toml)",
            path.display()
        );
        let text = std::fs::read_to_string(&path).expect("catalogue is readable");
        let table: toml::Table = text
            .parse()
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let mut entries = BTreeMap::new();
        flatten("", &table, &mut entries, &path);
        languages.insert(language, entries);
    }
    assert!(
        languages.contains_key("en"),
        "locales/en.toml is the fallback: it must exist"
    );
    // One text holding every key and text, and per language a table of byte ranges into it:
    // the module is a shared object, and a table of `&str` would cost a relocation per pointer
    // (about 1,600) each time sshd or sudo loads it. Offsets need none.
    let mut text = String::new();
    let mut tables = String::new();
    for (language, entries) in &languages {
        writeln!(tables, "    ({language:?}, &[").unwrap();
        for (key, value) in entries {
            let k = text.len();
            text.push_str(key);
            let t = text.len();
            text.push_str(value);
            writeln!(
                tables,
                "        [{k}, {}, {t}, {}],",
                key.len(),
                value.len()
            )
            .unwrap();
        }
        tables.push_str("    ]),\n");
    }
    let mut out = String::from("/// Every key and text of every catalogue, one after the other.\n");
    writeln!(out, "pub(super) static TEXT: &str = {text:?};").unwrap();
    out.push_str(
        "/// Every catalogue: language code, then [key start, key length, text start, text length]\n\
         /// into TEXT, sorted by key.\n",
    );
    out.push_str("pub(super) static CATALOGUES: &[(&str, Entries)] = &[\n");
    out.push_str(&tables);
    out.push_str("];\n");
    let dest =
        Path::new(&std::env::var("OUT_DIR").expect("cargo sets OUT_DIR")).join("catalogues.rs");
    std::fs::write(dest, out).expect("OUT_DIR is writable");
}

/// `[signin] code_prompt = "..."` becomes `signin.code_prompt`.
fn flatten(prefix: &str, table: &toml::Table, out: &mut BTreeMap<String, String>, path: &Path) {
    for (name, value) in table {
        let key = if prefix.is_empty() {
            name.clone()
        } else {
            format!("{prefix}.{name}")
        };
        match value {
            toml::Value::String(text) => {
                out.insert(key, text.clone());
            }
            toml::Value::Table(inner) => flatten(&key, inner, out, path),
            _ => panic!("{}: {key} is neither a text nor a table", path.display()),
        }
    }
}
