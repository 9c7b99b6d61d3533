//! Compiles the one C file of imgforge's own (src/imaging/libjpeg_entropy.c) against the headers
//! of the libjpeg that mozjpeg-sys builds, which it exports as `DEP_JPEG_INCLUDE`.

fn main() {
    const SOURCE: &str = "src/imaging/libjpeg_entropy.c";
    println!("cargo:rerun-if-changed={SOURCE}");
    let include = std::env::var_os("DEP_JPEG_INCLUDE").expect("mozjpeg-sys exports its headers");
    let mut build = cc::Build::new();
    for directory in std::env::split_paths(&include) {
        build.include(directory);
    }
    build
        .file(SOURCE)
        .warnings(true)
        .compile("imgforge_libjpeg");
}
