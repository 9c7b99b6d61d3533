// The reference side of `make bench`: one operation with sharp (libvips), single-threaded and
// uncached, timed in-process: at least `iterations` runs and more until `min_seconds` have
// passed, after one to warm up. Argument: {"op", "input", "iterations", "min_seconds", "logo"}
// as JSON.
// Prints {"median_ms", "bytes", "peak_rss_kb"}.
'use strict';
const fs = require('fs');
const sharp = require('sharp');

sharp.concurrency(1);
sharp.cache(false);

const job = JSON.parse(process.argv[2]);
const input = fs.readFileSync(job.input);
const logo = job.logo ? fs.readFileSync(job.logo) : null;

// Each operation as imgforge's benchmark runs it, with sharp's equivalent parameters.
const operations = {
  'resize 800w': (image) => image.resize({ width: 800 }),
  'crop 1000x800': (image) => image.extract({ left: 100, top: 100, width: 1000, height: 800 }),
  'convert to webp': (image) => image.webp({ quality: 80 }),
  'convert to jpeg': (image) => image.jpeg({ quality: 80 }),
  'convert to png': (image) => image.png(),
  'rotate 90': (image) => image.rotate(90),
  'rotate 30': (image) => image.rotate(30, { background: { r: 0, g: 0, b: 0, alpha: 0 } }),
  'mirror': (image) => image.flop(),
  'blur 20': (image) => image.blur(20),
  'modulate': (image) => image.modulate({ brightness: 1.2, saturation: 1.3 }),
  'watermark': (image) => image.composite([{ input: logo, left: 100, top: 100 }]),
  'watermark tiled': (image) => image.composite([{ input: logo, tile: true }]),
};

async function main() {
  const operation = operations[job.op];
  if (!operation) throw new Error(`unknown operation ${job.op}`);
  const times = [];
  const output = await operation(sharp(input)).toBuffer();
  const started = process.hrtime.bigint();
  const seconds = () => Number(process.hrtime.bigint() - started) / 1e9;
  while (times.length < job.iterations || seconds() < job.min_seconds) {
    const start = process.hrtime.bigint();
    await operation(sharp(input)).toBuffer();
    times.push(Number(process.hrtime.bigint() - start) / 1e6);
  }
  times.sort((a, b) => a - b);
  console.log(JSON.stringify({
    median_ms: times[Math.floor(times.length / 2)],
    bytes: output.length,
    peak_rss_kb: process.resourceUsage().maxRSS,
  }));
}

main().catch((error) => {
  console.error(error.message);
  process.exit(1);
});
