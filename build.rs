//! Embeds every stack (`stacks/*.yaml`) and wizard flow (`wizard/*.yaml`) in the binary:
//! a new vendor is a new pair of files, and no vendor's name is written in `src/`.

use std::fmt::Write;
use std::path::Path;

fn main() {
    let out = std::env::var("OUT_DIR").expect("cargo sets OUT_DIR");
    let root = std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR");
    for folder in ["stacks", "wizard"] {
        let dir = Path::new(&root).join(folder);
        println!("cargo:rerun-if-changed={}", dir.display());
        let mut names: Vec<String> = std::fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
            .filter_map(|e| e.ok()?.file_name().to_str()?.strip_suffix(".yaml").map(str::to_string))
            .collect();
        names.sort();
        let mut code = String::from("&[\n");
        for name in names {
            let path = dir.join(format!("{name}.yaml"));
            println!("cargo:rerun-if-changed={}", path.display());
            let _ = writeln!(code, "    ({name:?}, include_str!({:?})),", path.display().to_string());
        }
        code.push_str("]\n");
        std::fs::write(Path::new(&out).join(format!("{folder}.rs")), code).expect("OUT_DIR is writable");
    }
}
