//! The probe build depends on the `bpf-linker` binary, which cargo cannot see: rebuild when it
//! changes (the same imperfect cache key aya-template uses).
fn main() {
    match which::which("bpf-linker") {
        Ok(path) => println!("cargo:rerun-if-changed={}", path.display()),
        Err(err) => println!("cargo:warning=bpf-linker not found ({err}); run scripts/setup.sh"),
    }
}
