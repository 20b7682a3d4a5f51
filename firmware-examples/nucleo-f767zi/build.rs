//! Linker scripts: cortex-m-rt's link.x (memory.x comes from embassy-stm32's `memory-x` feature) and defmt's.
fn main() {
    println!("cargo:rustc-link-arg-bins=--nmagic");
    println!("cargo:rustc-link-arg-bins=-Tlink.x");
    println!("cargo:rustc-link-arg-bins=-Tdefmt.x");
}
