//! Rebuild when anything under `templates/` changes. The tree is embedded with
//! `include_dir!`, which cannot tell Cargo about files added after the last build.

fn main() {
    println!("cargo:rerun-if-changed=templates");
}
