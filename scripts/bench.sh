#!/usr/bin/env bash
# `make bench`: fetches the photographs and sharp, builds with libjpeg's SIMD, and prints the
# imgforge-versus-sharp table (also saved as bench/cache/results.md).
set -euo pipefail
cd "$(dirname "$0")/.."
cache=bench/cache
mkdir -p "$cache"

# libjpeg (mozjpeg) assembles its x86 SIMD with nasm; without it JPEG runs at half speed.
if [ "$(uname -m)" = x86_64 ] && ! command -v nasm >/dev/null; then
  if [ "$(id -u)" = 0 ]; then
    apt-get install -y -q nasm >/dev/null
  else
    echo "warning: nasm is missing, so JPEG is measured without SIMD (apt-get install nasm)" >&2
  fi
fi

# Real photographs from Debian's wallpaper packages: 5120×2880 JPEGs (baseline 4:2:0,
# progressive 4:4:4, baseline 4:2:2, a dark one) and PNG, a 4096×4096 WebP.
if [ ! -f "$cache/photo-dark.jpg" ]; then
  (cd "$cache" && apt-get download -q plasma-workspace-wallpapers gnome-backgrounds >/dev/null 2>&1)
  for deb in "$cache"/*.deb; do dpkg-deb -x "$deb" "$cache/extracted"; done
  wallpapers="$cache/extracted/usr/share/wallpapers"
  cp "$wallpapers/SafeLanding/contents/images/5120x2880.jpg" "$cache/photo.jpg"
  cp "$wallpapers/Volna/contents/images/5120x2880.jpg" "$cache/photo-progressive.jpg"
  cp "$wallpapers/Honeywave/contents/images/5120x2880.jpg" "$cache/photo-422.jpg"
  cp "$wallpapers/Flow/contents/images_dark/5120x2880.jpg" "$cache/photo-dark.jpg"
  cp "$wallpapers/Altai/contents/images/5120x2880.png" "$cache/photo.png"
  cp "$cache/extracted/usr/share/backgrounds/gnome/adwaita-l.webp" "$cache/photo.webp"
  rm -rf "$cache"/*.deb "$cache/extracted"
fi

cd bench
npm ci --no-audit --no-fund --loglevel=error
# bench/ is a package of its own with its own target/, so libjpeg is built there with nasm.
cargo run --release --quiet -- cache | tee cache/results.md
