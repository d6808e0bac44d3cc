//! Rebuild the XDP program whenever bpf-linker changes (as in aya-template).
fn main() {
    if let Ok(linker) = which::which("bpf-linker") {
        println!("cargo:rerun-if-changed={}", linker.display());
    }
}
