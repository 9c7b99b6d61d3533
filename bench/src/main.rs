//! `make bench`: every operation timed in-process, imgforge and sharp (libvips) side by side on
//! the same photographs, each in a process of its own so that peak memory is its own too.
//!
//! `cargo run --release -- CACHE_DIR` (from bench/) prints a Markdown table; `CACHE_DIR` holds
//! the photographs of `PHOTOS` (see scripts/bench.sh) and `bench/` holds sharp.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use imgforge::api::transform_params::{self, Transformation};
use imgforge::domain::Format;
use imgforge::imaging::{Operation, probe, transform};
use imgforge::services::transform::Plan;
use serde_json::{Value, json};

/// Timed runs of each operation: at least this many, and more until `MIN_SECONDS` have passed,
/// so that fast operations are not at the mercy of one slow run.
const ITERATIONS: usize = 7;
const MIN_SECONDS: f64 = 2.0;
const MAX_PIXELS: u64 = 64 * 1024 * 1024;
/// Stands for the logo in the watermark requests; the worker substitutes the file.
const LOGO_ID: &str = "image_000000000000000000000000";

/// The photographs, by file name in the cache and the name shown: the first of each format is
/// timed on every operation, the other JPEGs (progressive, other chroma subsamplings, darker)
/// on those with a goal of their own.
const PHOTOS: [(&str, &str); 6] = [
    ("photo.jpg", "SafeLanding"),
    ("photo-progressive.jpg", "Volna"),
    ("photo-422.jpg", "Honeywave"),
    ("photo-dark.jpg", "Flow dark"),
    ("photo.png", "Altai"),
    ("photo.webp", "adwaita-l"),
];

/// imgforge's time over sharp's that an operation must stay within: the goals for a
/// JPEG, and no slower than sharp for everything else.
fn goal(format: Format, operation: &str) -> Option<f64> {
    match (format, operation) {
        (Format::Jpeg, "resize 800w" | "blur 20") => Some(0.8),
        (Format::Jpeg, "crop 1000x800") => Some(0.6),
        (Format::Jpeg, "mirror" | "rotate 90") => Some(0.5),
        (Format::Jpeg, "convert to webp") => Some(1.0),
        _ => None,
    }
}

/// Each benchmarked operation: its name (shared with bench/sharp.js), kind and API parameters.
fn operations(input: Format) -> Vec<(&'static str, Transformation, Value)> {
    let convert = match input {
        Format::Jpeg => ("convert to webp", json!({"format": "webp"})),
        Format::Png => ("convert to jpeg", json!({"format": "jpeg"})),
        Format::Webp => ("convert to png", json!({"format": "png"})),
    };
    vec![
        ("resize 800w", Transformation::Resize, json!({"width": 800})),
        (
            "crop 1000x800",
            Transformation::Crop,
            json!({"x1": 100, "y1": 100, "x2": 1100, "y2": 900}),
        ),
        (convert.0, Transformation::Convert, convert.1),
        ("rotate 90", Transformation::Rotate, json!({"angle": 90})),
        ("rotate 30", Transformation::Rotate, json!({"angle": 30})),
        (
            "mirror",
            Transformation::Mirror,
            json!({"mode": "horizontal"}),
        ),
        ("blur 20", Transformation::Blur, json!({"sigma": 20})),
        (
            "modulate",
            Transformation::Modulate,
            json!({"brightness": 20, "saturation": 30}),
        ),
        (
            "watermark",
            Transformation::Watermark,
            json!({"watermarks": [{"id": LOGO_ID, "left": 100, "top": 100}]}),
        ),
        (
            "watermark tiled",
            Transformation::Watermark,
            json!({"watermarks": [{"id": LOGO_ID, "repetition_mode": "repeat"}]}),
        ),
    ]
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.as_slice() {
        [flag, job] if flag == "--worker" => worker(&serde_json::from_str(job).expect("a job")),
        [cache] => compare(Path::new(cache), ""),
        [cache, only] => compare(Path::new(cache), only),
        _ => panic!(
            "usage: imgforge-bench CACHE_DIR [ONLY: rows whose input or operation contains this]"
        ),
    }
}

/// The peak resident memory of this process so far, in KiB.
fn peak_rss_kb() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find_map(|line| line.strip_prefix("VmHWM:"))
                .and_then(|value| value.trim().trim_end_matches("kB").trim().parse().ok())
        })
        .unwrap_or(0)
}

fn worker(job: &Value) {
    // As every imgforge process does before any work: the timed runs reuse the memory the
    // previous run freed, as a warm Lambda or the local server does.
    imgforge::runtime::keep_freed_memory();
    let input = std::fs::read(job["input"].as_str().unwrap()).unwrap();
    let logo = std::fs::read(job["logo"].as_str().unwrap()).unwrap();
    let kind = Transformation::parse(job["kind"].as_str().unwrap()).unwrap();
    let source = probe(&input, MAX_PIXELS).unwrap();
    let params = job["params"].as_object().unwrap().clone();
    let request = transform_params::parse(kind, params, (source.width, source.height)).unwrap();
    let operation = match request.plan {
        Plan::Ready(operation) => operation,
        Plan::Watermarks(placements) => Operation::Watermark(
            placements
                .iter()
                .map(|placement| placement.with_image(logo.clone().into()))
                .collect(),
        ),
    };
    let mut times = Vec::new();
    // The first run warms up.
    let bytes = transform(&input, &operation, MAX_PIXELS).unwrap().bytes.len();
    let started = Instant::now();
    while times.len() < ITERATIONS || started.elapsed().as_secs_f64() < MIN_SECONDS {
        let start = Instant::now();
        transform(&input, &operation, MAX_PIXELS).unwrap();
        times.push(start.elapsed().as_secs_f64() * 1000.0);
    }
    times.sort_by(f64::total_cmp);
    let result =
        json!({"median_ms": times[times.len() / 2], "bytes": bytes, "peak_rss_kb": peak_rss_kb()});
    println!("{result}");
}

fn run(mut command: Command) -> Value {
    let output = command.output().expect("starting a benchmark process");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).expect("a JSON result")
}

/// A 400×400 logo with a soft alpha edge, for the watermark runs.
fn write_logo(path: &Path) {
    let logo = image::RgbaImage::from_fn(400, 400, |x, y| {
        let distance = ((x as f32 - 200.0).hypot(y as f32 - 200.0) / 200.0).min(1.0);
        image::Rgba([
            255,
            (x / 2) as u8,
            (y / 2) as u8,
            ((1.0 - distance) * 255.0) as u8,
        ])
    });
    logo.save(path).expect("writing the logo");
}

fn compare(cache: &Path, only: &str) {
    let logo = cache.join("logo.png");
    write_logo(&logo);
    let me = std::env::current_exe().expect("the benchmark's own path");
    println!(
        "| input | operation | imgforge ms | sharp ms | ratio | goal | imgforge bytes | sharp bytes | imgforge peak MiB | sharp peak MiB |"
    );
    println!("|---|---|---:|---:|---:|---|---:|---:|---:|---:|");
    let mut missed = Vec::new();
    let mut formats_seen = Vec::new();
    for (file, title) in PHOTOS {
        let input: PathBuf = cache.join(file);
        let source = probe(&std::fs::read(&input).unwrap(), MAX_PIXELS).unwrap();
        let format = source.format;
        let label = format!(
            "{} {} {}×{}",
            title,
            format.as_str().to_uppercase(),
            source.width,
            source.height
        );
        let every_operation = !formats_seen.contains(&format);
        formats_seen.push(format);
        for (name, kind, params) in operations(format) {
            let chosen = every_operation || goal(format, name).is_some();
            if !chosen || !format!("{label} {name}").contains(only) {
                continue;
            }
            let job = json!({
                "op": name,
                "kind": kind.as_str(),
                "params": params,
                "input": input,
                "logo": logo,
                "iterations": ITERATIONS,
                "min_seconds": MIN_SECONDS,
            });
            let mut ours = Command::new(&me);
            ours.arg("--worker").arg(job.to_string());
            let ours = run(ours);
            let mut theirs = Command::new("node");
            theirs.arg("sharp.js").arg(job.to_string());
            let theirs = run(theirs);
            let (ours_ms, theirs_ms) = (
                ours["median_ms"].as_f64().unwrap(),
                theirs["median_ms"].as_f64().unwrap(),
            );
            let mib = |result: &Value| result["peak_rss_kb"].as_f64().unwrap() / 1024.0;
            let ratio = ours_ms / theirs_ms;
            let limit = goal(format, name).unwrap_or(1.0);
            let met = ratio <= limit && mib(&ours) < mib(&theirs);
            if !met {
                missed.push(format!("{label} {name}"));
            }
            println!(
                "| {label} | {name} | {ours_ms:.1} | {theirs_ms:.1} | {ratio:.2} | ≤ {limit:.1} {} | {} | {} | {:.0} | {:.0} |",
                if met { "met" } else { "**missed**" },
                ours["bytes"],
                theirs["bytes"],
                mib(&ours),
                mib(&theirs),
            );
        }
    }
    println!();
    if missed.is_empty() {
        println!("Every row is within its goal, in time and in peak memory (below sharp's).");
    } else {
        println!("Missed (time over the goal, or peak memory not below sharp's): {}.", missed.join("; "));
    }
}
