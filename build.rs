//! Embeds the web UI (`www/`) into the binary for `meshchat serve`: one file is enough on
//! a Pi. Each file is stored gzip'd (with the program's own gzip writer), which is how
//! browsers fetch it; a table of (path, gzip bytes) is generated in OUT_DIR.

#[path = "src/protocol/crc32.rs"]
#[allow(dead_code)]
pub mod crc32;
#[path = "src/protocol/deflate.rs"]
#[allow(dead_code)]
pub mod deflate;
/// What `src/api/gzip.rs` imports, where the crate has it.
mod protocol {
    pub use super::{crc32, deflate};
}

#[path = "src/api/gzip.rs"]
#[allow(dead_code)]
mod gzip;

use std::fs;
use std::path::{Path, PathBuf};

fn collect(dir: &Path, prefix: &str, out: &mut Vec<(String, PathBuf)>) {
    let Ok(rd) = fs::read_dir(dir) else { return };
    let mut entries: Vec<_> = rd.flatten().collect();
    entries.sort_by_key(|e| e.file_name());
    for e in entries {
        let name = e.file_name().to_string_lossy().into_owned();
        if name.starts_with('.') {
            continue;
        }
        let path = e.path();
        if path.is_dir() {
            collect(&path, &format!("{prefix}{name}/"), out);
        } else {
            out.push((format!("{prefix}{name}"), path));
        }
    }
}

fn main() {
    let root = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").expect("set by cargo"));
    let www = root.join("www");
    println!("cargo:rerun-if-changed=www");
    let mut files = Vec::new();
    // Node builds (`--no-default-features`) leave the UI out: an empty table.
    if std::env::var_os("CARGO_FEATURE_EMBED_UI").is_some() {
        collect(&www, "", &mut files);
    }
    let out_dir = PathBuf::from(std::env::var("OUT_DIR").expect("set by cargo"));
    let mut src = String::from(
        "/// The web UI, embedded: (path under /meshchat/, gzip'd contents).\npub static ASSETS: &[(&str, &[u8])] = &[\n",
    );
    for (i, (name, path)) in files.iter().enumerate() {
        println!("cargo:rerun-if-changed={}", path.display());
        let bytes = fs::read(path).expect("www/ is readable");
        let gz = out_dir.join(format!("asset{i}.gz"));
        fs::write(&gz, gzip::compress(&bytes)).expect("OUT_DIR is writable");
        src.push_str(&format!(
            "    ({name:?}, include_bytes!({:?})),\n",
            gz.display().to_string()
        ));
    }
    src.push_str("];\n");
    fs::write(out_dir.join("assets.rs"), src).expect("OUT_DIR is writable");
}
