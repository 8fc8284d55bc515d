//! Release builds of the `kupgrade` binary on Linux (GNU targets, where the linker is GNU ld or
//! LLD): the debug sections are linked zlib-compressed, which std's backtraces read, and local
//! symbols are dropped, since function names for backtraces come from the debug info (`debug =
//! "limited"` in the workspace's release profile); together they keep the binary under 60 MB
//! (BENCHMARKS.md, "A newcomer's first build"). Debug and test builds are left as they are.

fn main() {
    println!("cargo::rerun-if-changed=build.rs");
    let var = |name: &str| std::env::var(name).unwrap_or_default();
    if var("PROFILE") == "release"
        && var("CARGO_CFG_TARGET_OS") == "linux"
        && var("CARGO_CFG_TARGET_ENV") == "gnu"
    {
        println!("cargo::rustc-link-arg-bins=-Wl,--compress-debug-sections=zlib");
        println!("cargo::rustc-link-arg-bins=-Wl,--discard-all");
    }
}
