//! Puts memory.x on the linker's search path, adds the linker scripts, and selects where the CYW43439 blobs come
//! from.
use std::path::PathBuf;
use std::{env, fs};

fn main() {
    let out = PathBuf::from(env::var_os("OUT_DIR").unwrap());
    fs::copy("memory.x", out.join("memory.x")).unwrap();
    println!("cargo:rustc-link-search={}", out.display());
    println!("cargo:rerun-if-changed=memory.x");
    println!("cargo:rustc-link-arg-bins=--nmagic");
    println!("cargo:rustc-link-arg-bins=-Tlink.x");
    println!("cargo:rustc-link-arg-bins=-Tlink-rp.x");
    println!("cargo:rustc-link-arg-bins=-Tdefmt.x");

    // By default the blobs come from the `cyw43-setup` crate (crates.io). CYW43_FIRMWARE_DIR instead takes them
    // from a directory laid out like embassy's `cyw43-firmware/` (43439A0.bin, 43439A0_clm.bin, nvram_rp2040.bin),
    // for whoever prefers the upstream distribution or a newer firmware.
    println!("cargo::rustc-check-cfg=cfg(cyw43_firmware_dir)");
    println!("cargo:rerun-if-env-changed=CYW43_FIRMWARE_DIR");
    if let Some(dir) = env::var_os("CYW43_FIRMWARE_DIR") {
        let dir = PathBuf::from(dir);
        for (var, file) in [
            ("RILL_CYW43_FW", "43439A0.bin"),
            ("RILL_CYW43_CLM", "43439A0_clm.bin"),
            ("RILL_CYW43_NVRAM", "nvram_rp2040.bin"),
        ] {
            let path = dir.join(file);
            assert!(
                path.is_file(),
                "CYW43_FIRMWARE_DIR: {} is missing",
                path.display()
            );
            println!("cargo:rerun-if-changed={}", path.display());
            println!("cargo:rustc-env={var}={}", path.display());
        }
        println!("cargo:rustc-cfg=cyw43_firmware_dir");
    }
}
